import { describe, expect, it } from 'vitest';
import { foreignRequest, ownHostNames } from './local-only.js';

describe('the names the API answers to', () => {
  it.each([
    ['127.0.0.1', 6784, ['127.0.0.1:6784', 'localhost:6784']],
    ['127.0.0.53', 6784, ['127.0.0.53:6784', 'localhost:6784']],
    ['::1', 6784, ['[::1]:6784', 'localhost:6784']],
    ['localhost', 6784, ['localhost:6784', '127.0.0.1:6784', '[::1]:6784']],
    ['198.18.0.1', 6784, ['198.18.0.1:6784']],
    ['127.0.0.1', 80, ['127.0.0.1:80', '127.0.0.1', 'localhost:80', 'localhost']],
  ])('bound to %s:%d: %j', (host, port, names) => {
    expect([...ownHostNames(host, port)]).toEqual(names);
  });
});

describe('a request from elsewhere', () => {
  const own = ownHostNames('127.0.0.1', 6784);
  it('has no Host, or a name that is not ours', () => {
    expect(foreignRequest({}, own, 6784, false)).toBe("a request must name the API's address in its Host header (127.0.0.1:6784)");
    expect(foreignRequest({ host: 'weft.example:6784' }, own, 6784, false)).toMatch(/^Host "weft\.example:6784" is not this API's address/);
    expect(foreignRequest({ host: '127.0.0.1:6784' }, own, 6784, false)).toBeUndefined();
  });

  it('on a wildcard bind, may name any IP literal on the port, never a name', () => {
    const any = ownHostNames('0.0.0.0', 6784);
    expect(foreignRequest({ host: '198.18.0.1:6784' }, any, 6784, true)).toBeUndefined();
    expect(foreignRequest({ host: '[2001:db8::1]:6784' }, any, 6784, true)).toBeUndefined();
    expect(foreignRequest({ host: '198.18.0.1:6785' }, any, 6784, true)).toMatch(/is not this API's address/);
    expect(foreignRequest({ host: 'rebound.example:6784' }, any, 6784, true)).toMatch(/is not this API's address/);
  });
});
