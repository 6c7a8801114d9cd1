/** ids/: actor ids the gateway mints for the actors clients create. */
export { mintedIdForKey, newMintedId } from './minted-ids.ts';
