import { describe, expect, it } from 'vitest';
import {
  describeValue,
  invalidOption,
  normalizeMethod,
  ObskitError,
  optionBoolean,
  optionFunction,
  optionNumber,
  optionOneOf,
  optionString,
  pathOf,
  readHeader,
  readSingleHeader,
  routeLabel,
  statusCodeLabel,
} from '../src/internal.js';

describe('label rules', () => {
  it.each([
    ['GET', 'GET'],
    ['POST', 'POST'],
    ['PATCH', 'PATCH'],
    ['OPTIONS', 'OPTIONS'],
    ['PURGE', '_OTHER'],
    ['get', '_OTHER'],
    ['', '_OTHER'],
    [undefined, '_OTHER'],
  ])('method %s → %s', (input, label) => {
    expect(normalizeMethod(input)).toBe(label);
  });

  it('routes and status codes', () => {
    expect(routeLabel('/v1/users/:id')).toBe('/v1/users/:id');
    expect(routeLabel(undefined)).toBe('__unmatched__');
    expect(routeLabel('')).toBe('__unmatched__');
    expect(statusCodeLabel(200)).toBe('200');
    expect(statusCodeLabel(499)).toBe('499');
    expect(statusCodeLabel(999)).toBe('999');
  });

  it('paths drop the query string', () => {
    expect(pathOf('/users/1?x=1&y=2')).toBe('/users/1');
    expect(pathOf('/health/ready')).toBe('/health/ready');
    expect(pathOf(undefined)).toBe('/');
  });
});

describe('readHeader', () => {
  it('reads the first value, bounded', () => {
    expect(readHeader({ 'x-a': 'v' }, 'x-a')).toBe('v');
    expect(readHeader({ 'set-cookie': ['one', 'two'] }, 'set-cookie')).toBe('one');
    expect(readHeader({}, 'x-a')).toBeUndefined();
    expect(readHeader({ 'x-a': 'x'.repeat(11) }, 'x-a', 10)).toBeUndefined();
    expect(readHeader({ 'x-a': 'x'.repeat(10) }, 'x-a', 10)).toBe('x'.repeat(10));
  });
});

describe('readSingleHeader', () => {
  const req = (rawHeaders: string[]) => ({ rawHeaders, headers: {} });
  it('finds the header in the raw list whatever the case of its name', () => {
    expect(readSingleHeader(req(['Host', 'h', 'X-Request-ID', 'abc']), 'x-request-id')).toBe('abc');
    expect(readSingleHeader(req(['host', 'h']), 'x-request-id')).toBeUndefined();
    expect(readSingleHeader(req(['x-a', '']), 'x-a')).toBe('');
  });
  it('reads a repeated or over-long header as absent', () => {
    expect(readSingleHeader(req(['x-a', '1', 'host', 'h', 'X-A', '2']), 'x-a')).toBeUndefined();
    expect(readSingleHeader(req(['x-a', 'x'.repeat(11)]), 'x-a', 10)).toBeUndefined();
    expect(readSingleHeader(req(['x-a', 'x'.repeat(10)]), 'x-a', 10)).toBe('x'.repeat(10));
  });
  it('falls back to the header object without a raw list', () => {
    expect(readSingleHeader({ headers: { 'x-a': 'v' } }, 'x-a')).toBe('v');
    expect(readSingleHeader({ headers: { 'x-a': ['v'] } }, 'x-a')).toBe('v');
    expect(readSingleHeader({ headers: { 'x-a': ['v', 'w'] } }, 'x-a')).toBeUndefined();
  });
});

describe('option errors', () => {
  it('name the option, the expectation and the value', () => {
    const error = invalidOption('health.checks.db.timeoutMs', 'a positive number', 'fast');
    expect(error).toBeInstanceOf(ObskitError);
    expect(error.code).toBe('OBSKIT_ERR_INVALID_OPTION');
    expect(error.message).toBe(
      'OBSKIT_ERR_INVALID_OPTION: health.checks.db.timeoutMs must be a positive number, got "fast"',
    );
  });

  it('validate each kind', () => {
    expect(optionString(undefined, 'a', 'd')).toBe('d');
    expect(() => optionString('', 'a')).toThrow('a must be a non-empty string, got ""');
    expect(optionBoolean(undefined, 'b', true)).toBe(true);
    expect(() => optionBoolean('yes', 'b', true)).toThrow('b must be a boolean, got "yes"');
    expect(optionNumber(5, 'n', 1, { min: 1, integer: true })).toBe(5);
    expect(() => optionNumber(0.5, 'n', 1, { min: 1, integer: true })).toThrow(
      'n must be an integer >= 1, got 0.5',
    );
    expect(() => optionNumber(Number.NaN, 'n', 1)).toThrow('n must be a number, got NaN');
    expect(() => optionNumber(11, 'n', 1, { min: 0, max: 10 })).toThrow(
      'n must be a number from 0 to 10, got 11',
    );
    expect(optionFunction(undefined, 'f')).toBeUndefined();
    expect(() => optionFunction(1, 'f')).toThrow('f must be a function, got 1');
    expect(optionOneOf(undefined, 'o', ['a', 'b'], 'a')).toBe('a');
    expect(() => optionOneOf('c', 'o', ['a', 'b'], 'a')).toThrow(
      'o must be one of "a", "b", got "c"',
    );
    expect(describeValue('x'.repeat(100))).toHaveLength(63);
    expect(describeValue([1, 2])).toBe('an array of 2');
    expect(describeValue({})).toBe('an object');
  });
});
