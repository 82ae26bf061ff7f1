// Moved to lib/ (the base folder): this re-export goes once every import points there.
export * from '../lib/errors.js';
