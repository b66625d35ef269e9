// Types for the smartauth web SDK (smartauth.js).

/** A step-up method this SDK can complete. */
export type StepUpMethod = 'sms_authentication' | 'email_authentication' | 'face_authentication';

/** The UI language. */
export type SmartAuthLanguage = 'pt-BR' | 'en';

/** CSS custom properties applied to the dialog host, e.g. `{'--smartauth-accent': '#0b5cff'}`. */
export interface SmartAuthTheme {
  '--smartauth-accent'?: string;
  '--smartauth-background'?: string;
  '--smartauth-text'?: string;
  '--smartauth-radius'?: string;
  '--smartauth-font'?: string;
  [customProperty: `--${string}`]: string | undefined;
}

export interface SmartAuthOptions {
  /**
   * The person-scoped SDK token minted by the tenant's backend, or a function returning it
   * (called once per verifyPolicy).
   */
  token: string | (() => string | Promise<string>);
  /** The smartauth server origin. Default: the origin this module was loaded from. */
  baseUrl?: string;
  /** Default: 'pt-BR' when navigator.language starts with 'pt', else 'en'. */
  language?: SmartAuthLanguage;
  theme?: SmartAuthTheme;
  /**
   * Ask for the person's position (with their permission). Default: true. Under a policy with
   * location_context an attempt without a position is stepped up (LOCATION_NOT_PROVIDED): false, or a
   * denied permission, means a step-up on every attempt.
   */
  geolocation?: boolean;
  /**
   * Longest wait for the position, permission prompt included; then no location is sent (a step-up under
   * a policy with location_context). Default: 3000.
   */
  geolocationTimeoutMs?: number;
}

export interface VerifyPolicyOptions {
  /** The transaction this approval is for; the SDK token must carry its transactionHash (see PROTOCOL.md). */
  transaction?: Record<string, unknown>;
}

export interface AuthorizedResult {
  isAuthorized: true;
  attemptId: string;
  /** A JWT (HS256, signed with the client secret, 120 s) for the tenant's backend to verify. */
  attestation: string;
}

/** 'methods_exhausted' also when the attempt expired (the policy's attemptTtlSeconds) while the dialog was open. */
export type RefusalReason = 'refused' | 'cancelled' | 'methods_exhausted' | 'locked' | 'no_method';

export interface UnauthorizedResult {
  isAuthorized: false;
  /** null only when the server refused before an attempt existed (a 423 locked person). */
  attemptId: string | null;
  reason: RefusalReason;
}

export type VerifyPolicyResult = AuthorizedResult | UnauthorizedResult;

export type SmartAuthErrorCode =
  | 'network'
  | 'unauthorized'
  | 'forbidden'
  | 'bad_request'
  | 'not_found'
  | 'conflict'
  | 'rate_limited'
  | 'server';

export class SmartAuthError extends Error {
  constructor(
    code: SmartAuthErrorCode,
    message: string,
    details?: { status?: number; requestId?: string | null; serverCode?: string | null; retryAfter?: number | null; cause?: unknown },
  );
  readonly name: 'SmartAuthError';
  readonly code: SmartAuthErrorCode;
  /** The HTTP status; 0 when no answer arrived (code 'network'). */
  readonly status: number;
  /** The server's requestId, to quote to the operator. */
  readonly requestId: string | null;
  /** The server's error code, e.g. 'INVALID_DEVICE_BINDING', 'UNAUTHORIZED'. */
  readonly serverCode: string | null;
  /** Seconds to wait before trying again (code 'rate_limited'). */
  readonly retryAfter: number | null;
}

export interface ClientHintsInfo {
  platform?: string;
  platformVersion?: string;
  model?: string;
  architecture?: string;
  bitness?: string;
  mobile?: boolean;
  fullVersionList?: string;
}

export interface DeviceContext {
  type: 'web';
  /** Hex SHA-256 of the stable signals' canonical JSON (see README). Not unique: a hint, not a proof (the device key is). */
  fingerPrint: string;
  userAgent?: string;
  providedInfo: {
    manufacturer?: string;
    model?: string;
    operatingSystem?: string;
    platform: 'web';
    clientHints?: ClientHintsInfo;
    browser?: string;
    screen?: string;
    timeZone?: string;
    languages?: string;
    hardwareConcurrency?: number | null;
    deviceMemory?: number | null;
    maxTouchPoints?: number;
  };
  /** What the client says about itself: `automation` stops honest automation, not an attacker (not a security control). */
  flags: { emulator: false; rooted: false; automation: boolean };
  /** Added by verifyPolicy for each attempt; collectContext never returns it. */
  binding?: {
    publicKey: { kty: 'EC'; crv: 'P-256'; x: string; y: string };
    challenge: string;
    signature: string;
  };
}

export interface LocationContext {
  latitude: number;
  longitude: number;
  accuracy?: number;
}

export interface AttemptContext {
  device: DeviceContext;
  location?: LocationContext;
}

/** The context verifyPolicy would send (without the per-attempt device binding). */
export function collectContext(options?: { geolocation?: boolean; geolocationTimeoutMs?: number }): Promise<AttemptContext>;

export class SmartAuth {
  constructor(options: SmartAuthOptions);
  /** The SDK version. */
  static readonly version: string;
  /** Deletes this browser's device key ("forget this device"); the next attempt creates a new one. */
  static resetDevice(): Promise<void>;
  /**
   * Runs the policy for the person. Resolves when the attempt ends (approved, refused, cancelled,
   * methods exhausted, locked, or no method this SDK can do); rejects with SmartAuthError when the
   * server cannot be used. When the device challenge cannot be had (404, 429 or 5xx), the attempt goes
   * on without the device binding; a network error or a 401/403 on it rejects.
   */
  verifyPolicy(personId: string | null | undefined, policyId: string, options?: VerifyPolicyOptions): Promise<VerifyPolicyResult>;
}
