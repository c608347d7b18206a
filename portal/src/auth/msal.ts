// Entra ID sign-in with MSAL (authorization code flow with PKCE), loaded only when the server's
// /config.json says `msal` — dev sign-in and the first paint never download it.
import type { AccountInfo, IPublicClientApplication } from "@azure/msal-browser";

export interface MsalSettings {
  clientId: string;
  authority: string;
  scopes: string[];
}

export interface MsalSession {
  account: AccountInfo | null;
  signIn: (returnTo: string) => Promise<void>;
  signOut: () => Promise<void>;
  token: () => Promise<string | null>;
}

export async function startMsal(settings: MsalSettings): Promise<MsalSession & { returnTo: string | null }> {
  const msal = await import("@azure/msal-browser");
  const app: IPublicClientApplication = await msal.PublicClientApplication.createPublicClientApplication({
    auth: {
      clientId: settings.clientId,
      authority: settings.authority,
      redirectUri: `${window.location.origin}/`,
      postLogoutRedirectUri: `${window.location.origin}/`,
      navigateToLoginRequestUrl: false,
    },
    cache: { cacheLocation: "sessionStorage" },
  });
  const result = await app.handleRedirectPromise();
  const account = result?.account ?? app.getActiveAccount() ?? app.getAllAccounts()[0] ?? null;
  if (account) app.setActiveAccount(account);
  const returnTo = (result?.state as string | undefined) ?? null;

  return {
    account,
    returnTo,
    signIn: async (to) => {
      await app.loginRedirect({ scopes: settings.scopes, state: to, prompt: "select_account" });
    },
    signOut: async () => {
      await app.logoutRedirect({ account: app.getActiveAccount() ?? undefined });
    },
    token: async () => {
      const active = app.getActiveAccount();
      if (!active) return null;
      try {
        const r = await app.acquireTokenSilent({ scopes: settings.scopes, account: active });
        return r.accessToken;
      } catch (e) {
        if (e instanceof msal.InteractionRequiredAuthError) {
          await app.acquireTokenRedirect({ scopes: settings.scopes, account: active, state: window.location.pathname + window.location.search });
          return null;
        }
        throw e;
      }
    },
  };
}
