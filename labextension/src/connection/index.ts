export * from './cursorstore';
export * from './manager';
export * from './poller';
export * from './schedule';
export * from './socket';
export * from './state';
