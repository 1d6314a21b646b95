// The framework- and client-free part of @obskit/messaging: what `./amqp` and `./nats` share,
// for reading their types and labels, and for an adapter of another client (`MessagingTelemetry`).
export {
  DEFAULT_MAX_DESTINATIONS,
  DEFAULT_MESSAGING_BUCKETS,
  DEFAULT_SIZE_BUCKETS,
  foldDestination,
  MAX_CONTEXT_HEADER_LENGTH,
  MessagingTelemetry,
  OTHER_DESTINATION,
  ParseError,
  REQUEST_ID_HEADER,
} from './shared.js';
export type {
  ConsumeOptions,
  DeliveryInfo,
  ErrorPolicy,
  LagReading,
  LagSource,
  MessageHandler,
  MessageOutcome,
  MessagingLogger,
  MessagingOptions,
  MessagingSystem,
  ResolvedConsume,
} from './shared.js';
