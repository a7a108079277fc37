/** A configuration mistake: raised before the server listens, printed as one line. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`config: ${variable} ${message}`);
    this.name = 'ConfigError';
  }
}
