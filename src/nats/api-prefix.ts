/** The JetStream API prefix a manager was made with (`$JS.API`, or the domain's), for requests sent by hand. */
export function apiPrefixOf(options: { readonly apiPrefix?: string; readonly domain?: string }): string {
  if (options.apiPrefix !== undefined) return options.apiPrefix;
  return options.domain !== undefined ? `$JS.${options.domain}.API` : '$JS.API';
}
