// smartauth web SDK: risk-based step-up authentication in the browser.
// One ES module, no dependencies, no build step. The server serves this exact file at /sdk/smartauth.js.
// Protocol: sdk/PROTOCOL.md. Licensed under the Apache License 2.0.

const SDK_VERSION = '0.1.0';

/** Origin this module was loaded from: the default server. */
const MODULE_ORIGIN = (() => {
  try {
    return new URL(import.meta.url).origin;
  } catch {
    return '';
  }
})();

/** Step-up methods this SDK can complete, in no particular order (the policy orders them). */
const METHODS = ['sms_authentication', 'email_authentication', 'face_authentication'];

const BINDING_PREFIX = 'smartauth-device-binding/v1.';
const DB_NAME = 'smartauth';
const DB_STORE = 'keys';
const DB_KEY = 'device';

const LIMITS = { fingerPrint: 256, userAgent: 1024, info: 128 };
const FACE_MAX_SIDE = 1280;
const FACE_JPEG_QUALITY = 0.9;
const DEFAULT_GEO_TIMEOUT_MS = 3000;
/** Used when a 429 or 502 comes without a readable Retry-After (e.g. a CORS-hidden header). */
const FALLBACK_WAIT_S = 30;

// ---------------------------------------------------------------------------------------------
// Texts

const TEXTS = {
  'pt-BR': {
    title: 'Confirme que é você',
    chooseIntro: 'Para continuar, escolha como confirmar sua identidade.',
    sms_authentication: 'Código por SMS',
    email_authentication: 'Código por e-mail',
    face_authentication: 'Selfie (reconhecimento facial)',
    cancel: 'Cancelar',
    close: 'Fechar',
    back: 'Escolher outra forma',
    retry: 'Tentar novamente',
    sending: 'Enviando o código…',
    sentTo: 'Enviamos um código para',
    sentSomewhere: 'Digite o código que enviamos para você.',
    resent: 'Enviamos um novo código.',
    codeLabel: 'Código recebido',
    submit: 'Confirmar',
    resend: 'Reenviar código',
    resendIn: (n) => `Reenviar código em ${n} s`,
    triesLeft: (n) => (n === 1 ? 'Resta 1 tentativa.' : `Restam ${n} tentativas.`),
    wrongCode: (n) => `Código incorreto. ${n === 1 ? 'Resta 1 tentativa.' : `Restam ${n} tentativas.`}`,
    wrongCodePlain: 'Código incorreto. Tente novamente.',
    expiredCode: 'O código expirou. Peça um novo código.',
    codeFormat: 'Digite somente os números do código que você recebeu.',
    verifying: 'Verificando…',
    sendFailed: 'Não conseguimos enviar o código. Tente reenviar em instantes.',
    resendWait: (n) => `Aguarde ${n} s para pedir um novo código.`,
    tooMany: (n) => `Muitas tentativas. Aguarde ${n} s e tente novamente.`,
    methodClosed: 'Não restam tentativas com essa forma de confirmação. Use outra.',
    methodUnavailable: 'Essa forma de confirmação não está disponível agora. Use outra.',
    conflict: 'Não foi possível concluir agora. Tente novamente.',
    failedTitle: 'Não foi possível confirmar',
    failedMessage: 'Todas as formas de confirmação foram esgotadas. Tente novamente mais tarde.',
    lockedTitle: 'Confirmação bloqueada',
    lockedMessage:
      'Por segurança, a confirmação foi bloqueada após muitas tentativas sem sucesso. Tente novamente mais tarde ou fale com o atendimento.',
    faceIntro: 'Posicione o rosto dentro do oval, olhe para a câmera e toque em “Tirar selfie”.',
    capture: 'Tirar selfie',
    cameraStarting: 'Abrindo a câmera…',
    cameraNotReady: 'Aguarde a imagem da câmera aparecer.',
    videoLabel: 'Imagem da câmera frontal',
    checkingSelfie: 'Verificando sua selfie…',
    face_not_found:
      'Não conseguimos ver um rosto. Procure um lugar mais iluminado, olhe de frente para a câmera e deixe o rosto descoberto.',
    poor_quality:
      'A foto não ficou nítida. Aproxime-se da câmera, procure mais luz, fique parado e olhe de frente.',
    multiple_faces: 'Apareceu mais de um rosto. Deixe só você na imagem.',
    // What to fix in a selfie refused for its quality (`refusalDetail`).
    face_too_small: 'O rosto ficou pequeno. Aproxime-se da câmera.',
    face_cut_off: 'O rosto ficou cortado. Centralize-o no oval, um pouco mais longe.',
    too_dark: 'A foto ficou escura. Procure mais luz, de frente para ela.',
    too_bright: 'A foto ficou clara demais. Saia da luz direta.',
    blurred: 'A foto ficou tremida. Fique parado e limpe a lente.',
    head_turned: 'O rosto ficou de lado. Olhe de frente para a câmera.',
    eyes_closed: 'Os olhos pareceram fechados. Mantenha os olhos abertos.',
    face_mismatch: 'O rosto não corresponde ao cadastrado. Tente de novo, olhando de frente para a câmera.',
    person_not_alive:
      'Precisamos ver você ao vivo, não uma foto ou uma tela. Tire a selfie você mesmo, diante da câmera.',
    faceRefused: 'Não conseguimos confirmar pela selfie. Tente de novo.',
    cameraDeniedTitle: 'Permita o acesso à câmera',
    cameraDenied:
      'Para tirar a selfie, permita o acesso à câmera: toque no ícone de cadeado ou de câmera na barra de endereço, escolha “Permitir” e toque em “Tentar novamente”.',
    noCameraTitle: 'Nenhuma câmera encontrada',
    noCamera: 'Não encontramos uma câmera neste aparelho. Conecte uma câmera e toque em “Tentar novamente”.',
    cameraBusy:
      'Não foi possível abrir a câmera. Feche outros aplicativos que estejam usando a câmera e toque em “Tentar novamente”.',
    orOther: 'Ou escolha outra forma de confirmação.',
  },
  en: {
    title: "Confirm it's you",
    chooseIntro: 'To continue, choose how to confirm your identity.',
    sms_authentication: 'Code by text message (SMS)',
    email_authentication: 'Code by email',
    face_authentication: 'Selfie (face recognition)',
    cancel: 'Cancel',
    close: 'Close',
    back: 'Choose another way',
    retry: 'Try again',
    sending: 'Sending the code…',
    sentTo: 'We sent a code to',
    sentSomewhere: 'Type the code we sent you.',
    resent: 'We sent a new code.',
    codeLabel: 'Code you received',
    submit: 'Confirm',
    resend: 'Resend code',
    resendIn: (n) => `Resend code in ${n} s`,
    triesLeft: (n) => (n === 1 ? '1 attempt left.' : `${n} attempts left.`),
    wrongCode: (n) => `Wrong code. ${n === 1 ? '1 attempt left.' : `${n} attempts left.`}`,
    wrongCodePlain: 'Wrong code. Try again.',
    expiredCode: 'The code has expired. Ask for a new one.',
    codeFormat: 'Type only the digits of the code you received.',
    verifying: 'Checking…',
    sendFailed: "We couldn't send the code. Try resending in a moment.",
    resendWait: (n) => `Wait ${n} s to ask for a new code.`,
    tooMany: (n) => `Too many tries. Wait ${n} s and try again.`,
    methodClosed: 'No attempts are left with that way of confirming. Use another one.',
    methodUnavailable: "That way of confirming isn't available right now. Use another one.",
    conflict: "That didn't go through. Try again.",
    failedTitle: "We couldn't confirm it's you",
    failedMessage: 'Every way of confirming has been used up. Try again later.',
    lockedTitle: 'Confirmation locked',
    lockedMessage:
      'For your security, confirmation is locked after too many failed attempts. Try again later or contact support.',
    faceIntro: 'Place your face inside the oval, look at the camera and tap “Take selfie”.',
    capture: 'Take selfie',
    cameraStarting: 'Opening the camera…',
    cameraNotReady: 'Wait for the camera picture to appear.',
    videoLabel: 'Front camera preview',
    checkingSelfie: 'Checking your selfie…',
    face_not_found: "We couldn't see a face. Find more light, face the camera and keep your face uncovered.",
    poor_quality: "The picture wasn't clear. Move closer to the camera, find more light, hold still and face the camera.",
    multiple_faces: 'More than one face showed up. Make sure only you are in the picture.',
    // What to fix in a selfie refused for its quality (`refusalDetail`).
    face_too_small: 'Your face is too small. Move closer to the camera.',
    face_cut_off: 'Your face is cut off. Centre it in the oval, a little farther away.',
    too_dark: 'The picture is too dark. Find more light, facing it.',
    too_bright: 'The picture is too bright. Move out of direct light.',
    blurred: 'The picture is blurred. Hold still and clean the lens.',
    head_turned: 'Your head is turned. Face the camera.',
    eyes_closed: 'Your eyes look closed. Keep your eyes open.',
    face_mismatch: "The face doesn't match the enrolled face. Try again, facing the camera.",
    person_not_alive: 'We need to see you live, not a photo or a screen. Take the selfie yourself, in front of the camera.',
    faceRefused: "We couldn't confirm it's you from the selfie. Try again.",
    cameraDeniedTitle: 'Allow camera access',
    cameraDenied:
      'To take the selfie, allow camera access: tap the lock or camera icon in the address bar, choose “Allow”, then tap “Try again”.',
    noCameraTitle: 'No camera found',
    noCamera: "We couldn't find a camera on this device. Connect one and tap “Try again”.",
    cameraBusy: "The camera couldn't be opened. Close other apps using the camera and tap “Try again”.",
    orOther: 'Or choose another way of confirming.',
  },
};

function pickLanguage(requested) {
  const raw = requested || (typeof navigator !== 'undefined' && navigator.language) || 'en';
  return String(raw).toLowerCase().startsWith('pt') ? 'pt-BR' : 'en';
}

// ---------------------------------------------------------------------------------------------
// Errors and HTTP

const ERROR_CODES = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  429: 'rate_limited',
};

/** A failed call to the smartauth server (or the network). */
export class SmartAuthError extends Error {
  constructor(code, message, { status = 0, requestId = null, serverCode = null, retryAfter = null, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'SmartAuthError';
    /** 'network' | 'unauthorized' | 'forbidden' | 'bad_request' | 'not_found' | 'conflict' | 'rate_limited' | 'server' */
    this.code = code;
    /** HTTP status; 0 when no answer arrived. */
    this.status = status;
    this.requestId = requestId;
    /** The server's error code, e.g. 'INVALID_DEVICE_BINDING'. */
    this.serverCode = serverCode;
    /** Seconds to wait, for 'rate_limited'. */
    this.retryAfter = retryAfter;
  }
}

function errorFrom(res) {
  const code = res.status >= 500 ? 'server' : ERROR_CODES[res.status] || 'bad_request';
  const message = (res.body && typeof res.body.message === 'string' && res.body.message) || `HTTP ${res.status}`;
  return new SmartAuthError(code, message, {
    status: res.status,
    requestId: res.requestId,
    serverCode: (res.body && res.body.code) || null,
    retryAfter: res.retryAfter,
  });
}

function retryAfterSeconds(headers) {
  const raw = headers.get('retry-after');
  if (!raw) return null;
  const s = Number(raw);
  if (Number.isFinite(s)) return Math.max(1, Math.ceil(s));
  const at = Date.parse(raw);
  return Number.isFinite(at) ? Math.max(1, Math.ceil((at - Date.now()) / 1000)) : null;
}

/**
 * One call to the server. Resolves with every HTTP answer (the caller decides what a status means);
 * rejects with SmartAuthError('network') when no answer arrives.
 */
async function request(baseUrl, token, method, path, body, signal) {
  let response;
  try {
    response = await fetch(baseUrl + path, {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        Accept: 'application/json',
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
      signal,
    });
  } catch (cause) {
    if (signal && signal.aborted) throw cause;
    throw new SmartAuthError('network', 'the smartauth server could not be reached', { cause });
  }
  let parsed = null;
  try {
    parsed = await response.json();
  } catch {
    // An empty or non-JSON body (a proxy's error page): the status alone decides.
  }
  return {
    status: response.status,
    ok: response.ok,
    body: parsed,
    retryAfter: retryAfterSeconds(response.headers),
    requestId: (parsed && parsed.requestId) || response.headers.get('x-request-id'),
  };
}

// ---------------------------------------------------------------------------------------------
// Context

/** Drops control and invisible format characters (the server refuses them) and bounds the length. */
function clean(value, max) {
  if (value === undefined || value === null) return undefined;
  const s = String(value).replace(/\p{C}/gu, '').trim();
  return s ? s.slice(0, max) : undefined;
}

function browserName(ua) {
  if (/\bEdg(e|A|iOS)?\//.test(ua)) return 'Edge';
  if (/\b(OPR|Opera)\//.test(ua)) return 'Opera';
  if (/\bSamsungBrowser\//.test(ua)) return 'Samsung Internet';
  if (/\b(Firefox|FxiOS)\//.test(ua)) return 'Firefox';
  if (/\b(Chrome|CriOS|Chromium)\//.test(ua)) return 'Chrome';
  if (/\bSafari\//.test(ua)) return 'Safari';
  return 'Other';
}

/** Operating system from the user agent string, for browsers without client hints. */
function osFromUserAgent(ua) {
  let m;
  if ((m = ua.match(/\b(?:iPhone|CPU) OS (\d+(?:_\d+)*)/))) return { name: 'iOS', version: m[1].replace(/_/g, '.') };
  if ((m = ua.match(/\bAndroid (\d+(?:\.\d+)*)/))) return { name: 'Android', version: m[1] };
  if ((m = ua.match(/\bMac OS X (\d+(?:[._]\d+)*)/))) return { name: 'macOS', version: m[1].replace(/_/g, '.') };
  if ((m = ua.match(/\bWindows NT (\d+(?:\.\d+)*)/))) return { name: 'Windows', version: m[1] };
  if (/\bCrOS\b/.test(ua)) return { name: 'Chrome OS', version: '' };
  if (/\bLinux\b/.test(ua)) return { name: 'Linux', version: '' };
  return { name: '', version: '' };
}

async function clientHints() {
  const uad = typeof navigator !== 'undefined' ? navigator.userAgentData : undefined;
  if (!uad || typeof uad.getHighEntropyValues !== 'function') return null;
  try {
    return await uad.getHighEntropyValues([
      'platform',
      'platformVersion',
      'model',
      'architecture',
      'bitness',
      'fullVersionList',
      'mobile',
    ]);
  } catch {
    return null;
  }
}

/** Brands without the "Not A Brand" grease entries, which change with every release. */
function realBrands(list) {
  return (Array.isArray(list) ? list : []).filter((b) => b && b.brand && !/not.?a.?brand/i.test(b.brand));
}

function automationDetected(ua) {
  if (navigator.webdriver === true) return true;
  if (/Headless/i.test(ua)) return true;
  const brands = (navigator.userAgentData && navigator.userAgentData.brands) || [];
  if (brands.some((b) => /Headless/i.test(b.brand))) return true;
  // Real browsers have at least one preferred language, and (Chromium, Firefox) the built-in PDF plugins.
  const noPlugins = !navigator.plugins || navigator.plugins.length === 0;
  const noLanguages = !navigator.languages || navigator.languages.length === 0;
  return noPlugins && noLanguages;
}

/** Hex SHA-256 of a string. */
async function sha256Hex(text) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Canonical JSON: keys sorted at every level, no whitespace. The fingerprint hashes this text,
 * so its shape is fixed: every field is always present (null when unknown).
 */
function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value === undefined ? null : value);
}

/** The signals that stay the same between visits of one browser on one device (see README). */
function stableSignals(ua, hints) {
  const s = window.screen || {};
  const w = Number(s.width) || 0;
  const h = Number(s.height) || 0;
  const os = osFromUserAgent(ua);
  return {
    v: 1,
    browser: browserName(ua),
    platform: (hints && hints.platform) || os.name || navigator.platform || null,
    architecture: (hints && hints.architecture) || null,
    bitness: (hints && hints.bitness) || null,
    model: (hints && hints.model) || null,
    mobile: hints ? Boolean(hints.mobile) : null,
    // Long side x short side, so that rotating a phone does not change it.
    screen: `${Math.max(w, h)}x${Math.min(w, h)}`,
    colorDepth: Number(s.colorDepth) || null,
    languages: Array.from(navigator.languages || (navigator.language ? [navigator.language] : [])),
    hardwareConcurrency: navigator.hardwareConcurrency || null,
    deviceMemory: navigator.deviceMemory || null,
    maxTouchPoints: navigator.maxTouchPoints || 0,
  };
}

function timeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
  } catch {
    return null;
  }
}

/** The person's position, or null: never waits longer than `timeoutMs`, never throws. */
async function currentPosition(timeoutMs) {
  if (typeof navigator === 'undefined' || !navigator.geolocation) return null;
  try {
    if (navigator.permissions && navigator.permissions.query) {
      const state = await navigator.permissions.query({ name: 'geolocation' });
      if (state.state === 'denied') return null;
    }
  } catch {
    // Permissions API without 'geolocation' (older Safari): ask anyway.
  }
  return new Promise((resolve) => {
    // getCurrentPosition's own timeout does not count the time the permission prompt stays open.
    const timer = setTimeout(() => resolve(null), timeoutMs);
    const done = (value) => {
      clearTimeout(timer);
      resolve(value);
    };
    try {
      navigator.geolocation.getCurrentPosition(
        (p) =>
          done({
            latitude: p.coords.latitude,
            longitude: p.coords.longitude,
            accuracy: Number.isFinite(p.coords.accuracy) ? p.coords.accuracy : undefined,
          }),
        () => done(null),
        { enableHighAccuracy: false, maximumAge: 60000, timeout: timeoutMs },
      );
    } catch {
      done(null);
    }
  });
}

/**
 * The context this SDK sends with an attempt: `{device, location?}` (the device binding is added
 * separately, per attempt).
 */
export async function collectContext(options = {}) {
  const { geolocation = true, geolocationTimeoutMs = DEFAULT_GEO_TIMEOUT_MS } = options;
  const ua = navigator.userAgent || '';
  const [hints, location] = await Promise.all([
    clientHints(),
    geolocation ? currentPosition(Math.max(0, Number(geolocationTimeoutMs) || 0)) : null,
  ]);
  const stable = stableSignals(ua, hints);
  const os = osFromUserAgent(ua);
  const osName = (hints && hints.platform) || os.name;
  const osVersion = (hints && hints.platformVersion) || os.version;
  const brands = realBrands(hints && hints.fullVersionList);
  // "Google Chrome" or "Microsoft Edge" rather than the engine's "Chromium" entry.
  const brand = brands.find((b) => b.brand !== 'Chromium') || brands[0];
  const browser = brand ? `${brand.brand} ${brand.version}` : stable.browser;
  const manufacturer = /^(iOS|macOS)$/i.test(osName) || /iPhone|iPad|Macintosh/.test(ua) ? 'Apple' : undefined;
  const s = window.screen || {};

  const info = (v) => clean(v, LIMITS.info);
  const providedInfo = {
    manufacturer: info(manufacturer),
    model: info((hints && hints.model) || browser),
    operatingSystem: info([osName, osVersion].filter(Boolean).join(' ')),
    platform: 'web',
    // The server reads these (they beat the frozen User-Agent string: Windows 11, the Android model).
    clientHints: hints
      ? {
          platform: info(hints.platform),
          platformVersion: info(hints.platformVersion),
          model: info(hints.model),
          architecture: info(hints.architecture),
          bitness: info(hints.bitness),
          mobile: Boolean(hints.mobile),
          fullVersionList: info(brands.map((b) => `${b.brand} ${b.version}`).join(', ')),
        }
      : undefined,
    browser: info(browser),
    screen: info(`${s.width || 0}x${s.height || 0}@${window.devicePixelRatio || 1}x, ${s.colorDepth || 0}-bit`),
    timeZone: info(timeZone()),
    languages: info(stable.languages.join(', ')),
    hardwareConcurrency: stable.hardwareConcurrency,
    deviceMemory: stable.deviceMemory,
    maxTouchPoints: stable.maxTouchPoints,
  };

  const context = {
    device: {
      type: 'web',
      fingerPrint: (await sha256Hex(canonicalJson(stable))).slice(0, LIMITS.fingerPrint),
      userAgent: clean(ua, LIMITS.userAgent),
      providedInfo: JSON.parse(JSON.stringify(providedInfo)),
      flags: { emulator: false, rooted: false, automation: automationDetected(ua) },
    },
  };
  if (location && Number.isFinite(location.latitude) && Number.isFinite(location.longitude)) {
    context.location = JSON.parse(JSON.stringify(location));
  }
  return context;
}

// ---------------------------------------------------------------------------------------------
// Device key (IndexedDB + WebCrypto)

let keyPairPromise = null;

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(DB_STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error('IndexedDB is blocked'));
  });
}

function inStore(db, mode, action) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(DB_STORE, mode);
    const req = action(tx.objectStore(DB_STORE));
    tx.oncomplete = () => resolve(req.result);
    tx.onerror = () => reject(tx.error || req.error);
    tx.onabort = () => reject(tx.error || req.error);
  });
}

function isKeyPair(v) {
  return Boolean(v && v.privateKey instanceof CryptoKey && v.publicKey instanceof CryptoKey);
}

/** The device key pair: created once (non-extractable), kept in IndexedDB. */
async function loadOrCreateKeyPair() {
  const db = await openDb();
  try {
    const stored = await inStore(db, 'readonly', (s) => s.get(DB_KEY));
    if (isKeyPair(stored)) return stored;
    const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
    try {
      // add, not put: when another tab created a key meanwhile, that one wins and is used here too.
      await inStore(db, 'readwrite', (s) => (stored === undefined ? s.add(pair, DB_KEY) : s.put(pair, DB_KEY)));
      return pair;
    } catch (e) {
      const winner = await inStore(db, 'readonly', (s) => s.get(DB_KEY));
      if (isKeyPair(winner)) return winner;
      throw e;
    }
  } finally {
    db.close();
  }
}

/** The key pair, or null when this browser cannot keep one (no IndexedDB or WebCrypto, private mode). */
async function deviceKeyPair() {
  if (typeof indexedDB === 'undefined' || !globalThis.crypto || !crypto.subtle) return null;
  if (!keyPairPromise) {
    keyPairPromise = loadOrCreateKeyPair().catch(() => {
      keyPairPromise = null;
      return null;
    });
  }
  return keyPairPromise;
}

function base64url(bytes) {
  let bin = '';
  for (const b of new Uint8Array(bytes)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** `{publicKey, challenge, signature}` for `challenge`, or null when signing is impossible here. */
async function signBinding(pair, challenge) {
  try {
    const jwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
    const data = new TextEncoder().encode(BINDING_PREFIX + challenge);
    const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, data);
    return {
      publicKey: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y },
      challenge,
      signature: base64url(signature),
    };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// The dialog

const STYLE = `
:host {
  all: initial;
  --_accent: var(--smartauth-accent, #0b5cff);
  --_bg: var(--smartauth-background, #ffffff);
  --_text: var(--smartauth-text, #1b1f24);
  --_radius: var(--smartauth-radius, 16px);
  --_font: var(--smartauth-font, system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif);
  --_muted: color-mix(in srgb, var(--_text) 65%, var(--_bg));
  --_line: color-mix(in srgb, var(--_text) 18%, var(--_bg));
}
@media (prefers-color-scheme: dark) {
  :host {
    --_bg: var(--smartauth-background, #1c1f24);
    --_text: var(--smartauth-text, #f1f3f5);
  }
}
dialog {
  box-sizing: border-box;
  width: min(420px, calc(100vw - 24px));
  max-height: calc(100dvh - 24px);
  overflow: auto;
  margin: auto;
  padding: 24px;
  border: none;
  border-radius: var(--_radius);
  background: var(--_bg);
  color: var(--_text);
  font: 16px/1.45 var(--_font);
  box-shadow: 0 18px 60px rgb(0 0 0 / 0.35);
  animation: sa-in 160ms ease-out;
}
dialog:not([open]) { display: none; }
dialog::backdrop { background: rgb(0 0 0 / 0.5); }
dialog:focus { outline: none; }
*, *::before, *::after { box-sizing: border-box; }
h2 { margin: 0 0 8px; font-size: 1.25em; line-height: 1.25; font-weight: 650; }
p { margin: 0 0 12px; }
[data-sa="message"] { min-height: 1.45em; color: var(--_text); }
[data-sa="message"]:empty { display: none; }
.muted { color: var(--_muted); }
.stack { display: flex; flex-direction: column; gap: 10px; }
.actions { display: flex; flex-wrap: wrap; gap: 8px; justify-content: flex-end; margin-top: 16px; }
button, input { font: inherit; color: inherit; }
button {
  min-height: 44px;
  padding: 10px 16px;
  border-radius: calc(var(--_radius) / 2);
  border: 1px solid var(--_line);
  background: transparent;
  cursor: pointer;
  transition: background-color 120ms, opacity 120ms;
}
button:hover:not(:disabled) { background: color-mix(in srgb, var(--_accent) 8%, transparent); }
button.primary { background: var(--_accent); border-color: var(--_accent); color: #fff; font-weight: 600; }
button.primary:hover:not(:disabled) { background: color-mix(in srgb, var(--_accent) 85%, #000); }
button.method { width: 100%; text-align: start; font-weight: 600; }
button:disabled { opacity: 0.55; cursor: not-allowed; }
button:focus-visible, input:focus-visible { outline: 3px solid var(--_accent); outline-offset: 2px; }
label { display: block; font-weight: 600; margin-bottom: 6px; }
input[data-sa="code"] {
  width: 100%;
  padding: 12px;
  border: 1px solid var(--_line);
  border-radius: calc(var(--_radius) / 2);
  background: transparent;
  font-size: 1.4em;
  letter-spacing: 0.25em;
  text-align: center;
}
[data-sa="destination"] { font-weight: 600; word-break: break-all; }
[data-sa="tries-left"] { margin: 8px 0 0; }
[data-sa="tries-left"]:empty { display: none; }
form .row { margin-top: 12px; }
.row { display: flex; gap: 8px; flex-wrap: wrap; }
.row > button { flex: 1 1 auto; }
.camera { position: relative; width: 100%; aspect-ratio: 3 / 4; max-height: 55dvh; border-radius: calc(var(--_radius) / 2); overflow: hidden; background: #000; margin-bottom: 12px; }
video { width: 100%; height: 100%; object-fit: cover; transform: scaleX(-1); display: block; }
[data-sa="oval"] {
  position: absolute; inset: 12% 20%;
  border: 3px dashed rgb(255 255 255 / 0.9);
  border-radius: 50%;
  box-shadow: 0 0 0 100vmax rgb(0 0 0 / 0.35);
  pointer-events: none;
}
.spinner {
  width: 36px; height: 36px; margin: 16px auto;
  border: 4px solid var(--_line); border-top-color: var(--_accent); border-radius: 50%;
  animation: sa-spin 0.9s linear infinite;
}
@keyframes sa-spin { to { transform: rotate(360deg); } }
@keyframes sa-in { from { opacity: 0; transform: translateY(8px); } }
@media (prefers-reduced-motion: reduce) {
  dialog, .spinner, button { animation: none; transition: none; }
  .spinner { border-top-color: var(--_accent); border-right-color: var(--_accent); }
}
`;

const ELEMENT_NAME = 'smartauth-dialog';
if (typeof customElements !== 'undefined' && !customElements.get(ELEMENT_NAME)) {
  customElements.define(ELEMENT_NAME, class SmartAuthDialogElement extends HTMLElement {});
}

/** Creates an element: `h('button', {type: 'button', 'data-sa': 'cancel'}, 'Cancelar')`. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

const FOCUSABLE = 'button:not([disabled]), input:not([disabled]), video[controls], [tabindex]:not([tabindex="-1"])';

/** The modal shell: host element, shadow root, title, status line; screens fill the body. */
class DialogShell {
  constructor(language, theme, onEscape) {
    this.previousFocus = document.activeElement;
    this.host = document.createElement(ELEMENT_NAME);
    this.host.setAttribute('lang', language);
    for (const [k, v] of Object.entries(theme || {})) {
      if (k.startsWith('--') && v !== undefined && v !== null) this.host.style.setProperty(k, String(v));
    }
    this.root = this.host.attachShadow({ mode: 'open' });
    this.title = h('h2', { id: 'sa-title', 'data-sa': 'title' });
    this.message = h('p', { id: 'sa-message', 'data-sa': 'message', role: 'status', 'aria-live': 'polite' });
    this.body = h('div', { class: 'body' });
    this.actions = h('div', { class: 'actions' });
    this.dialog = h(
      'dialog',
      {
        role: 'dialog',
        'aria-modal': 'true',
        'aria-labelledby': 'sa-title',
        'aria-describedby': 'sa-message',
        lang: language,
        tabindex: '-1',
      },
      this.title,
      this.message,
      this.body,
      this.actions,
    );
    this.root.append(h('style', { text: STYLE }), this.dialog);
    this.dialog.addEventListener('keydown', (e) => this.onKeydown(e, onEscape));
    // The browser's own close request (Escape, Android back): handled as our Escape.
    this.dialog.addEventListener('cancel', (e) => {
      e.preventDefault();
      onEscape();
    });
    document.body.append(this.host);
    if (typeof this.dialog.showModal === 'function') this.dialog.showModal();
    else this.dialog.setAttribute('open', '');
  }

  get active() {
    return this.root.activeElement;
  }

  onKeydown(e, onEscape) {
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      onEscape();
      return;
    }
    if (e.key !== 'Tab') return;
    const items = this.focusables();
    if (items.length === 0) {
      e.preventDefault();
      this.dialog.focus();
      return;
    }
    const first = items[0];
    const last = items[items.length - 1];
    const at = this.active;
    if (e.shiftKey && (at === first || at === this.dialog || !items.includes(at))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (at === last || !items.includes(at))) {
      e.preventDefault();
      first.focus();
    }
  }

  focusables() {
    return Array.from(this.dialog.querySelectorAll(FOCUSABLE)).filter((el) => el.getClientRects().length > 0);
  }

  /** Replaces the screen: `data-screen`, title, message, body and action buttons. */
  show(screen, { title, message = '', body = [], actions = [] }) {
    this.dialog.setAttribute('data-screen', screen);
    this.title.textContent = title;
    this.message.textContent = message;
    this.body.replaceChildren(...body.filter(Boolean));
    this.actions.replaceChildren(...actions.filter(Boolean));
  }

  say(text) {
    this.message.textContent = text || '';
  }

  /** Moves focus to `el`, or to the dialog itself when there is nothing to focus. */
  focus(el) {
    (el && el.isConnected && !el.disabled ? el : this.dialog).focus();
  }

  /** Disables `el` without letting focus fall out of the dialog. */
  disable(el, disabled = true, fallback = null) {
    if (disabled && this.active === el) this.focus(fallback);
    el.disabled = disabled;
  }

  remove() {
    try {
      if (this.dialog.open && typeof this.dialog.close === 'function') this.dialog.close();
    } catch {
      // Already closed.
    }
    this.host.remove();
    const back = this.previousFocus;
    if (back && back.isConnected && typeof back.focus === 'function') {
      try {
        back.focus({ preventScroll: true });
      } catch {
        // An element that cannot take focus any more.
      }
    }
  }
}

function cameraProblem(error) {
  const name = error && error.name;
  if (name === 'NotAllowedError' || name === 'PermissionDeniedError' || name === 'SecurityError') return 'denied';
  if (name === 'NotFoundError' || name === 'DevicesNotFoundError' || name === 'OverconstrainedError') return 'none';
  return 'busy';
}

/** The step-up after a `pending` attempt: one dialog, until the attempt ends or the person leaves it. */
class StepUp {
  constructor({ baseUrl, token, attemptId, methods, language, theme }) {
    this.baseUrl = baseUrl;
    this.token = token;
    this.attemptId = attemptId;
    this.remaining = methods.slice();
    this.t = TEXTS[language];
    this.language = language;
    this.theme = theme;
    this.cleanups = [];
    this.sent = {}; // method -> {sentTo, resendAt}
    this.stream = null;
    this.aborter = new AbortController();
    this.done = false;
  }

  run() {
    return new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      this.ui = new DialogShell(this.language, this.theme, () => this.onEscape());
      this.start();
    });
  }

  // -- ending -------------------------------------------------------------------------------

  settle() {
    if (this.done) return false;
    this.done = true;
    this.leave();
    this.stopCamera();
    this.aborter.abort();
    this.ui.remove();
    return true;
  }

  finish(result) {
    if (this.settle()) this.resolve({ attemptId: this.attemptId, ...result });
  }

  fail(error) {
    if (this.settle()) this.reject(error);
  }

  onEscape() {
    const final = { failed: 'methods_exhausted', locked: 'locked' }[this.ui.dialog.getAttribute('data-screen')];
    this.finish({ isAuthorized: false, reason: final || 'cancelled' });
  }

  /** Runs the current screen's cleanups (timers, WebOTP); the camera stays unless asked. */
  leave() {
    for (const fn of this.cleanups.splice(0)) {
      try {
        fn();
      } catch {
        // A cleanup must not stop the others.
      }
    }
  }

  stopCamera() {
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
  }

  cancelButton() {
    return h('button', { type: 'button', 'data-sa': 'cancel', onclick: () => this.finish({ isAuthorized: false, reason: 'cancelled' }) }, this.t.cancel);
  }

  backButton() {
    if (this.remaining.length < 2) return null;
    return h('button', { type: 'button', 'data-sa': 'back', onclick: () => this.choose() }, this.t.back);
  }

  // -- server calls -------------------------------------------------------------------------

  /**
   * POSTs (or GETs) and returns the answer for the caller to read, or null when the answer ended
   * the step-up: 423 shows the locked screen, and the statuses that cannot be recovered here reject.
   * `keep` lists statuses the caller handles itself.
   */
  async call(method, path, body, keep = []) {
    let res;
    try {
      res = await request(this.baseUrl, this.token, method, path, body, this.aborter.signal);
    } catch (e) {
      if (!this.done) this.fail(e);
      return null;
    }
    if (this.done) return null;
    if (res.ok || keep.includes(res.status)) return res;
    if (res.status === 423) {
      this.locked();
      return null;
    }
    this.fail(errorFrom(res));
    return null;
  }

  methodPath(method, action) {
    return `/authentications/${encodeURIComponent(this.attemptId)}/methods/${method}/${action}`;
  }

  /** After a 409: reads the attempt to learn whether it or the method has ended. */
  async reconcile(method, onStillOpen) {
    const res = await this.call('GET', `/authentications/${encodeURIComponent(this.attemptId)}`);
    if (!res) return;
    const status = res.body && res.body.status;
    if (status === 'reproved') return this.failed();
    if (status === 'approved') {
      // Approved elsewhere (another tab): this page has no attestation to give.
      return this.fail(errorFrom({ status: 409, body: { code: 'CONFLICT', message: 'the attempt was approved elsewhere' }, requestId: res.requestId }));
    }
    const methods = (res.body && res.body.authenticationMethods) || {};
    const mstatus = methods[method] && methods[method].status;
    if (mstatus && mstatus !== 'pending') return this.closeMethod(method, this.t.methodClosed);
    onStillOpen();
  }

  // -- screens ------------------------------------------------------------------------------

  start() {
    this.choose();
  }

  /** The choice, or straight to the method when only one is left. */
  choose(notice = '') {
    this.leave();
    this.stopCamera();
    if (this.remaining.length === 0) return this.failed();
    if (this.remaining.length === 1) return this.open(this.remaining[0], notice);
    const buttons = this.remaining.map((m) =>
      h('button', { type: 'button', class: 'method', 'data-sa': 'method', 'data-method': m, onclick: () => this.open(m) }, this.t[m]),
    );
    this.ui.show('choose', {
      title: this.t.title,
      message: notice,
      body: [h('p', { class: 'muted', text: this.t.chooseIntro }), h('div', { class: 'stack' }, ...buttons)],
      actions: [this.cancelButton()],
    });
    this.ui.focus(buttons[0]);
  }

  /** Shows `method`'s screen; `hint` is the face screen's guidance after a refused selfie. */
  open(method, notice = '', hint = '') {
    this.guard(method === 'face_authentication' ? this.face(notice, hint) : this.code(method, notice));
  }

  /** An unexpected exception in a screen's work ends the step-up instead of leaving it stuck. */
  guard(promise) {
    promise.catch((e) => this.fail(e));
  }

  /** Removes a method that can no longer be used and moves on. */
  closeMethod(method, notice) {
    this.remaining = this.remaining.filter((m) => m !== method);
    if (this.remaining.length === 0) return this.failed();
    this.choose(notice);
  }

  busy(message) {
    this.ui.show('busy', {
      title: this.t.title,
      message,
      body: [h('div', { class: 'spinner', 'aria-hidden': 'true' })],
      actions: [this.cancelButton()],
    });
    this.ui.focus(null);
  }

  finalScreen(screen, title, message, reason, extra = []) {
    this.leave();
    this.stopCamera();
    const close = h('button', { type: 'button', class: 'primary', 'data-sa': 'close', onclick: () => this.finish({ isAuthorized: false, reason }) }, this.t.close);
    this.ui.show(screen, { title, message, actions: [...extra, close] });
    this.ui.focus(close);
  }

  failed() {
    this.finalScreen('failed', this.t.failedTitle, this.t.failedMessage, 'methods_exhausted');
  }

  locked() {
    this.finalScreen('locked', this.t.lockedTitle, this.t.lockedMessage, 'locked');
  }

  // -- sms / email --------------------------------------------------------------------------

  async code(method, notice = '') {
    this.leave();
    this.stopCamera();
    if (!this.sent[method]) {
      this.busy(this.t.sending);
      const outcome = await this.send(method);
      if (outcome === null) return;
      notice = [notice, outcome].filter(Boolean).join(' ');
    }
    this.codeScreen(method, notice);
  }

  /**
   * Asks for a code. Returns a notice for the code screen ('' when sent), or null when the
   * step-up moved elsewhere (ended, or the method closed).
   */
  async send(method) {
    const res = await this.call('POST', this.methodPath(method, 'send'), {}, [409, 429, 502, 503, 504]);
    if (!res) return null;
    const now = Date.now();
    const previous = this.sent[method] || { sentTo: '' };
    if (res.ok) {
      const wait = Number(res.body && res.body.resendAfterSeconds) || 0;
      this.sent[method] = { sentTo: (res.body && res.body.sentTo) || previous.sentTo, resendAt: now + wait * 1000 };
      return '';
    }
    if (res.status === 409) {
      // A method that cannot send (ended, no destination, too many sends) cannot be completed here.
      await this.reconcile(method, () => this.closeMethod(method, this.t.methodUnavailable));
      return null;
    }
    const wait = res.retryAfter || FALLBACK_WAIT_S;
    this.sent[method] = { sentTo: previous.sentTo, resendAt: now + wait * 1000 };
    // 429: a code went out moments ago (or the caps are reached); 5xx: the gateway failed, try again later.
    return res.status === 429 ? this.t.resendWait(wait) : this.t.sendFailed;
  }

  codeScreen(method, notice) {
    const t = this.t;
    const input = h('input', {
      id: 'sa-code',
      'data-sa': 'code',
      type: 'text',
      inputmode: 'numeric',
      autocomplete: 'one-time-code',
      pattern: '[0-9]*',
      maxlength: '12',
      spellcheck: 'false',
      autocapitalize: 'off',
      enterkeyhint: 'done',
    });
    const submit = h('button', { type: 'submit', class: 'primary', 'data-sa': 'submit' }, t.submit);
    const resend = h('button', { type: 'button', 'data-sa': 'resend', onclick: () => this.guard(onResend()) }, t.resend);
    const triesLeft = h('p', { class: 'muted', 'data-sa': 'tries-left' });
    const destination = h('span', { 'data-sa': 'destination' });
    const where = h('p');
    const showDestination = () => {
      const sentTo = this.sent[method].sentTo;
      destination.textContent = sentTo || '';
      destination.hidden = !sentTo;
      where.replaceChildren(...(sentTo ? [`${t.sentTo} `, destination] : [t.sentSomewhere, destination]));
    };
    showDestination();
    const form = h(
      'form',
      { novalidate: true, onsubmit: (e) => (e.preventDefault(), this.guard(onSubmit())) },
      h('label', { for: 'sa-code', text: t.codeLabel }),
      input,
      triesLeft,
      h('div', { class: 'row' }, submit, resend),
    );
    this.ui.show('code', {
      title: t.title,
      message: notice,
      body: [
        where,
        form,
      ],
      actions: [this.backButton(), this.cancelButton()],
    });
    this.ui.focus(input);

    // Resend countdown, from the method's resendAt (which a 429 or a new send moves).
    let timer = null;
    const tick = () => {
      const left = Math.ceil((this.sent[method].resendAt - Date.now()) / 1000);
      if (left > 0) {
        resend.textContent = t.resendIn(left);
        this.ui.disable(resend, true, input);
      } else {
        resend.textContent = t.resend;
        resend.disabled = false;
        clearInterval(timer);
        timer = null;
      }
    };
    const restartCountdown = () => {
      if (timer) clearInterval(timer);
      timer = setInterval(tick, 1000);
      tick();
    };
    restartCountdown();
    this.cleanups.push(() => timer && clearInterval(timer));

    let working = false;
    const setWorking = (on) => {
      working = on;
      this.ui.disable(submit, on, input);
      input.readOnly = on;
    };

    const onSubmit = async () => {
      if (working || this.done) return;
      const code = input.value.replace(/[\s-]/g, '');
      if (!/^\d{1,12}$/.test(code)) {
        this.ui.say(t.codeFormat);
        this.ui.focus(input);
        return;
      }
      setWorking(true);
      this.ui.say(t.verifying);
      const res = await this.call('POST', this.methodPath(method, 'verify'), { code }, [400, 409, 429]);
      if (!res || this.done || !input.isConnected) return;
      setWorking(false);
      if (res.status === 400) {
        // A code of the wrong length or shape: the person mistyped, the attempt is intact.
        this.ui.say(t.codeFormat);
        input.select();
        return this.ui.focus(input);
      }
      if (res.status === 429) {
        this.ui.say(t.tooMany(res.retryAfter || FALLBACK_WAIT_S));
        return this.ui.focus(input);
      }
      if (res.status === 409) {
        return this.reconcile(method, () => {
          this.ui.say(t.conflict);
          this.ui.focus(input);
        });
      }
      this.verdict(method, res.body || {}, (reason, left) => {
        input.value = '';
        if (Number.isFinite(left)) triesLeft.textContent = t.triesLeft(left);

        const known = Number.isFinite(left);
        this.ui.say(reason === 'expired_code' ? t.expiredCode : known ? t.wrongCode(left) : t.wrongCodePlain);
        this.ui.focus(input);
      });
    };

    const onResend = async () => {
      if (working || resend.disabled || this.done) return;
      this.ui.disable(resend, true, input);
      const outcome = await this.send(method);
      if (outcome === null || this.done || !input.isConnected) return;
      showDestination();
      restartCountdown();
      this.ui.say(outcome || t.resent);
      this.ui.focus(input);
    };

    this.webOtp(method, input, onSubmit);
  }

  /** Offers the SMS code through WebOTP where the browser supports it; aborted when the screen goes. */
  webOtp(method, input, onSubmit) {
    if (method !== 'sms_authentication' || typeof window.OTPCredential === 'undefined' || !navigator.credentials) return;
    const abort = new AbortController();
    this.cleanups.push(() => abort.abort());
    navigator.credentials
      .get({ otp: { transport: ['sms'] }, signal: abort.signal })
      .then((otp) => {
        if (!otp || !otp.code || abort.signal.aborted || !input.isConnected) return;
        input.value = otp.code;
        this.guard(onSubmit());
      })
      .catch(() => {
        // Aborted, dismissed or unsupported: the person types the code.
      });
  }

  /**
   * Reads a verify answer: approved ends the step-up; a closed method moves on; otherwise
   * `retry(refusalReason, attemptsLeft)` lets the screen ask again.
   */
  verdict(method, body, retry) {
    if (body.isAuthorized === true) {
      return this.finish({ isAuthorized: true, attestation: body.attestation });
    }
    if (body.status === 'reproved') return this.failed();
    const left = Number(body.attemptsLeft);
    if (body.refusalReason === 'max_attempts_exceeded' || left === 0) {
      return this.closeMethod(method, this.t.methodClosed);
    }
    // A selfie refused for its quality says what to fix (`refusalDetail`); the screen shows that.
    retry(body.refusalDetail || body.refusalReason, left);
  }

  // -- face ---------------------------------------------------------------------------------

  async face(notice = '', hint = '') {
    this.leave();
    const t = this.t;
    const video = h('video', { 'data-sa': 'video', autoplay: true, playsinline: true, muted: true, 'aria-label': t.videoLabel });
    video.muted = true; // the attribute alone does not mute in every browser
    const capture = h('button', { type: 'button', class: 'primary', 'data-sa': 'capture', onclick: () => this.guard(onCapture()) }, t.capture);
    const hintEl = h('p', { 'data-sa': 'hint', role: 'status', 'aria-live': 'polite', text: hint || t.faceIntro });
    let working = false;
    const onCapture = async () => {
      if (working || this.done) return;
      const image = snapshot(video);
      if (!image) {
        hintEl.textContent = t.cameraNotReady;
        return;
      }
      working = true;
      this.busy(t.checkingSelfie);
      const res = await this.call('POST', this.methodPath('face_authentication', 'verify'), { image }, [409, 429]);
      if (!res || this.done) return;
      if (res.status === 429) return this.open('face_authentication', '', t.tooMany(res.retryAfter || FALLBACK_WAIT_S));
      if (res.status === 409) {
        return this.reconcile('face_authentication', () => this.open('face_authentication', '', t.conflict));
      }
      this.verdict('face_authentication', res.body || {}, (reason, left) => {
        const help = t[reason] || t.faceRefused;
        this.open('face_authentication', '', Number.isFinite(left) ? `${help} ${t.triesLeft(left)}` : help);
      });
    };
    this.ui.show('face', {
      title: t.title,
      message: notice,
      body: [h('div', { class: 'camera' }, video, h('div', { 'data-sa': 'oval', 'aria-hidden': 'true' })), hintEl],
      actions: [this.backButton(), this.cancelButton(), capture],
    });
    this.ui.focus(capture);

    if (!this.stream) {
      if (!hint) hintEl.textContent = t.cameraStarting;
      try {
        if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
          throw Object.assign(new Error('no camera API'), { name: 'NotFoundError' });
        }
        const stream = await navigator.mediaDevices.getUserMedia({
          video: { facingMode: 'user', width: { ideal: 1280 }, height: { ideal: 960 } },
          audio: false,
        });
        if (this.done || !video.isConnected) {
          for (const track of stream.getTracks()) track.stop();
          return;
        }
        this.stream = stream;
        if (!hint) hintEl.textContent = t.faceIntro;
      } catch (error) {
        if (!this.done && video.isConnected) this.cameraDenied(cameraProblem(error));
        return;
      }
    }
    video.srcObject = this.stream;
    video.play().catch(() => {
      // Autoplay of a muted inline video is allowed; a refusal leaves the first frame, still capturable.
    });

  }

  cameraDenied(kind) {
    const t = this.t;
    const title = kind === 'none' ? t.noCameraTitle : t.cameraDeniedTitle;
    const text = { denied: t.cameraDenied, none: t.noCamera, busy: t.cameraBusy }[kind];
    const message = this.remaining.length > 1 ? `${text} ${t.orOther}` : text;
    const retry = h('button', { type: 'button', 'data-sa': 'retry', onclick: () => this.open('face_authentication') }, t.retry);
    this.finalScreen('camera-denied', title, message, 'cancelled', [this.backButton(), retry]);
  }
}

/** The video's current frame as base64 JPEG (no data: prefix), at most FACE_MAX_SIDE px a side. */
function snapshot(video) {
  const w = video.videoWidth;
  const hgt = video.videoHeight;
  if (!w || !hgt) return null;
  const scale = Math.min(1, FACE_MAX_SIDE / Math.max(w, hgt));
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(w * scale);
  canvas.height = Math.round(hgt * scale);
  canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
  const url = canvas.toDataURL('image/jpeg', FACE_JPEG_QUALITY);
  const comma = url.indexOf(',');
  return comma > 0 ? url.slice(comma + 1) : null;
}

// ---------------------------------------------------------------------------------------------
// The public entry point

/** Risk-based step-up authentication for one tenant's web page. */
export class SmartAuth {
  #token;
  #baseUrl;
  #language;
  #theme;
  #geolocation;
  #geolocationTimeoutMs;

  constructor(options = {}) {
    const { token, baseUrl, language, theme, geolocation = true, geolocationTimeoutMs = DEFAULT_GEO_TIMEOUT_MS } = options;
    if (typeof token !== 'string' && typeof token !== 'function') {
      throw new TypeError('SmartAuth: `token` must be the SDK token or a function that returns it');
    }
    this.#token = token;
    this.#baseUrl = String(baseUrl || MODULE_ORIGIN).replace(/\/+$/, '');
    this.#language = pickLanguage(language);
    this.#theme = theme && typeof theme === 'object' ? { ...theme } : {};
    this.#geolocation = geolocation !== false;
    this.#geolocationTimeoutMs = Math.max(0, Number(geolocationTimeoutMs) || 0);
  }

  static get version() {
    return SDK_VERSION;
  }

  /** Forgets this browser's device key ("forget this device"); the next attempt creates a new one. */
  static async resetDevice() {
    keyPairPromise = null;
    if (typeof indexedDB === 'undefined') return;
    const db = await openDb();
    try {
      await inStore(db, 'readwrite', (s) => s.delete(DB_KEY));
    } finally {
      db.close();
    }
  }

  /**
   * Runs the policy for the person: resolves `{isAuthorized: true, attemptId, attestation}` or
   * `{isAuthorized: false, attemptId, reason}`; rejects with SmartAuthError when the server cannot be used.
   */
  async verifyPolicy(personId, policyId, options = {}) {
    if (typeof policyId !== 'string' || !policyId) throw new TypeError('SmartAuth: policyId is required');
    const token = typeof this.#token === 'function' ? await this.#token() : this.#token;
    if (typeof token !== 'string' || !token) throw new TypeError('SmartAuth: the token function returned no token');
    const call = (method, path, body) => request(this.#baseUrl, token, method, path, body);

    const [context, binding] = await Promise.all([
      collectContext({ geolocation: this.#geolocation, geolocationTimeoutMs: this.#geolocationTimeoutMs }),
      this.#binding(call, policyId),
    ]);
    if (binding === 'locked') return { isAuthorized: false, attemptId: null, reason: 'locked' };
    if (binding) context.device.binding = binding;

    const body = { policyId, context };
    if (personId !== undefined && personId !== null && personId !== '') body.personId = String(personId);
    if (options && options.transaction !== undefined) body.transaction = options.transaction;
    const res = await call('POST', '/authentications', body);
    if (res.status === 423) return { isAuthorized: false, attemptId: null, reason: 'locked' };
    if (!res.ok) throw errorFrom(res);

    const attempt = res.body || {};
    const attemptId = attempt.attemptId || null;
    if (attempt.status === 'approved' || attempt.isAuthorized === true) {
      return { isAuthorized: true, attemptId, attestation: attempt.attestation };
    }
    if (attempt.status !== 'pending') return { isAuthorized: false, attemptId, reason: 'refused' };
    const needed = Array.isArray(attempt.neededReauthentications) ? attempt.neededReauthentications : [];
    const methods = needed.filter((m, i) => METHODS.includes(m) && needed.indexOf(m) === i);
    if (methods.length === 0) return { isAuthorized: false, attemptId, reason: 'no_method' };

    return new StepUp({
      baseUrl: this.#baseUrl,
      token,
      attemptId,
      methods,
      language: this.#language,
      theme: this.#theme,
    }).run();
  }

  /**
   * The signed device binding, null when this browser or server cannot do it now, 'locked' on a 423.
   * Without a binding the attempt still runs (a known device is then recognised by its fingerprint, or
   * stepped up): 404 is an older server without device challenges (or an unknown policy: the attempt will
   * say so); 429 is too many challenges waiting for this person (several tabs, say); 5xx is the server's
   * trouble with challenges only. No answer at all (network), 401 and 403 still reject.
   */
  async #binding(call, policyId) {
    const pair = await deviceKeyPair();
    if (!pair) return null;
    const res = await call('POST', '/authentications/device-challenge', { policyId });
    if (res.status === 404 || res.status === 429 || res.status >= 500) return null;
    if (res.status === 423) return 'locked';
    if (!res.ok) throw errorFrom(res);
    const challenge = res.body && res.body.challenge;
    return typeof challenge === 'string' && challenge ? signBinding(pair, challenge) : null;
  }
}

