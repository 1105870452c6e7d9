/** base64url's alphabet, in its order: index ^ 1 flips only the lowest of the 6 bits a character carries. */
export const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The token with one character replaced, for every position and every other base64url character (and the dot). */
export function* everySubstitution(token: string): Generator<string> {
  for (let i = 0; i < token.length; i++) {
    for (const ch of `${ALPHABET}.`) {
      if (ch !== token[i]) yield token.slice(0, i) + ch + token.slice(i + 1);
    }
  }
}
