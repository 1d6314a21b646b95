// An exporter that drops spans: the benchmarks measure span creation and processing, not I/O.
export const droppingExporter = {
  export(_spans, done) {
    done({ code: 0 });
  },
  shutdown: async () => {},
  forceFlush: async () => {},
};
