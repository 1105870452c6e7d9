export * from './model';
export * from './engine';
export * from './apply';
export * from './explain';
export { capWindow, localDate } from './time';
