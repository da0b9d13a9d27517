// The OpenID provider the sign-on tests sign on against: the certified oidc-provider
// (npm, v9), configured from the environment by tests/support/idp.py.
//   IDP_PORT      where it listens (127.0.0.1)
//   IDP_HALL      the hall's base URL (its redirect, logout and back-channel URIs)
//   IDP_KID       the id of the signing key made at start (a restart with another id is a
//                 key rotation the hall must follow)
//   IDP_ACCOUNTS  a JSON file: { "<login>": { <claims> }, ... }; any password is accepted
//                 (devInteractions' login form), an unknown login is refused.
// Prints "idp listening <issuer>" once it serves.
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import Provider from "oidc-provider";

const port = Number(process.env.IDP_PORT);
const hall = process.env.IDP_HALL;
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(readFileSync(process.env.IDP_ACCOUNTS, "utf8"));

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: "jwk" }), kid: process.env.IDP_KID, use: "sig", alg: "RS256" };

const provider = new Provider(issuer, {
  clients: [{
    client_id: "service-hall",
    client_secret: process.env.IDP_CLIENT_SECRET,
    redirect_uris: [`${hall}/api/v1/sign-on/oidc/callback`],
    post_logout_redirect_uris: [`${hall}/pages/`],
    backchannel_logout_uri: `${hall}/api/v1/sign-on/oidc/backchannel-logout`,
    backchannel_logout_session_required: true,
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
  }, {
    // Another relying party of the same campus: its tokens must not open the hall.
    client_id: "library",
    client_secret: process.env.IDP_CLIENT_SECRET,
    redirect_uris: [`${hall}/library-callback`],
    grant_types: ["authorization_code"],
    response_types: ["code"],
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: ["hall-test-idp-cookie-key"] },
  claims: {
    openid: ["sub"],
    profile: ["preferred_username", "name", "groups", "人员类别", "department", "student_id"],
    email: ["email", "email_verified"],
  },
  features: {
    devInteractions: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  // The provider refuses to call special-use addresses (an SSRF guard); here the hall's
  // back channel is on 127.0.0.1 by design, so the test provider calls it directly.
  fetch(url, options) {
    delete options.dispatcher;
    return globalThis.fetch(url, options);
  },
  async findAccount(ctx, id) {
    if (!Object.hasOwn(accounts, id)) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...accounts[id] }; } };
  },
});
provider.on("server_error", (ctx, err) => console.error("idp server_error", err));
provider.on("backchannel.error", (client, err) => console.error("idp backchannel.error", err));
provider.on("backchannel.success", (client) => console.log("idp backchannel.success", client.clientId));

provider.listen(port, "127.0.0.1", () => console.log(`idp listening ${issuer}`));
