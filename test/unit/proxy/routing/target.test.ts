import { describe, expect, it } from 'vitest';
import { hostName, hostOf, splitAbsolute, splitDapr } from '../../../../src/proxy/routing/index.ts';

describe('request-target helpers', () => {
  it('splits absolute-form targets', () => {
    const out = { authority: '', path: '' };
    expect(splitAbsolute('http://orders/items?id=1', out)).toBe(true);
    expect(out).toEqual({ authority: 'orders', path: '/items?id=1' });
    expect(splitAbsolute('HTTP://orders:8080', out)).toBe(true);
    expect(out).toEqual({ authority: 'orders:8080', path: '/' });
    expect(splitAbsolute('http://orders?x', out)).toBe(true);
    expect(out).toEqual({ authority: 'orders', path: '/?x' });
    expect(splitAbsolute('/items', out)).toBe(false);
    expect(splitAbsolute('https://orders/', out)).toBe(false);
    expect(splitAbsolute('http://user@orders/', out)).toBe(false);
    expect(splitAbsolute('http:///x', out)).toBe(false);
  });

  it('takes the host name out of a Host value', () => {
    expect(hostName('orders')).toBe('orders');
    expect(hostName('Orders:7481')).toBe('orders');
    expect(hostName('[::1]:80')).toBe('[::1]');
    expect(hostName('[::1]')).toBe('[::1]');
  });

  it('drops one trailing dot (an absolute DNS name), and hostOf keeps the case', () => {
    expect(hostName('orders.')).toBe('orders');
    expect(hostName('Example.COM.:8080')).toBe('example.com');
    expect(hostName('a.b.example.com.')).toBe('a.b.example.com');
    expect(hostName('[::1]:80')).toBe('[::1]');
    expect(hostName('.')).toBe('.');
    expect(hostOf('Orders.:7481')).toBe('Orders');
    expect(hostOf('Orders')).toBe('Orders');
  });

  it('splits Dapr invocation targets', () => {
    const out = { service: '', path: '' };
    expect(splitDapr('/v1.0/invoke/orders/method/items/9?x=1', out)).toBe(true);
    expect(out).toEqual({ service: 'orders', path: '/items/9?x=1' });
    expect(splitDapr('/v1.0/invoke/orders/method', out)).toBe(true);
    expect(out).toEqual({ service: 'orders', path: '/' });
    expect(splitDapr('/v1.0/invoke/orders/method?x=1', out)).toBe(true);
    expect(out).toEqual({ service: 'orders', path: '/?x=1' });
    expect(splitDapr('/v1.0/invoke/orders/methods/x', out)).toBe(false);
    expect(splitDapr('/v1.0/invoke//method/x', out)).toBe(false);
    expect(splitDapr('/v1.0/state/x', out)).toBe(false);
  });
});
