// A real OpenID Connect issuer for the console's browser test: panva's oidc-provider (npm),
// certified by the OpenID Foundation, with its development login and consent pages (any login
// and password sign in). It issues JWT access tokens (ES256) for the resource api://iocd,
// carrying the user's delegated permissions in `scp`, the tenant in `tid` and `upn`, as Entra
// does for a signed-in user.
//
// Two steps, because the issuer's address goes into iocd's configuration and the console's
// address (iocd's, known once it runs) into the issuer's client registration:
//   const issuer = await listen();            // issuer.url
//   issuer.configure({ redirectUri, tenant, scopes });
import Provider from "oidc-provider";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer } from "node:http";

export const CONSOLE_CLIENT_ID = "iocd-console";
export const RESOURCE = "api://iocd";

export async function listen() {
  let handler = (_request, response) => {
    response.statusCode = 503;
    response.end();
  };
  const server = createServer((request, response) => handler(request, response));
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    configure({ redirectUri, tenant, scopes }) {
      const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const key = { ...privateKey.export({ format: "jwk" }), kid: "console-test-1", alg: "ES256", use: "sig" };
      const provider = new Provider(url, {
        clients: [
          {
            client_id: CONSOLE_CLIENT_ID,
            token_endpoint_auth_method: "none",
            redirect_uris: [redirectUri],
            grant_types: ["authorization_code"],
            response_types: ["code"],
            id_token_signed_response_alg: "ES256",
          },
        ],
        jwks: { keys: [key] },
        cookies: { keys: [randomBytes(16).toString("hex")] },
        ttl: { AccessToken: 3600, AuthorizationCode: 60, Grant: 3600, IdToken: 3600, Interaction: 600, Session: 3600 },
        findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub, name: sub }) }),
        features: {
          devInteractions: { enabled: true },
          resourceIndicators: {
            enabled: true,
            defaultResource: async () => RESOURCE,
            useGrantedResource: async () => true,
            getResourceServerInfo: async () => ({
              scope: scopes,
              audience: RESOURCE,
              accessTokenFormat: "jwt",
              accessTokenTTL: 3600,
              jwt: { sign: { alg: "ES256" } },
            }),
          },
        },
        // The console redeems its code from its own origin.
        clientBasedCORS: () => true,
        extraTokenClaims: async (_ctx, token) => ({
          tid: tenant,
          upn: `${token.accountId}@${tenant}.example`,
          name: token.accountId,
          scp: String(token.scope || "")
            .split(" ")
            .filter((s) => s && s !== "openid" && s !== "profile")
            .join(" "),
        }),
      });
      handler = provider.callback();
    },
    close() {
      server.close();
    },
  };
}
