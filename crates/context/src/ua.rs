//! User-Agent parsing into the shape seed 001 shows, which is the shape of ua-parser-js:
//! `browser {name, version, major}`, `engine {name, version}`, `os {name, version}`,
//! `device {vendor, model, type}`, `cpu {architecture}`.
//!
//! Browser, OS and device come from the uap-core regexes (`regexes.yaml`, run by the `ua-parser`
//! crate); a naming layer turns uap-core's family names into ua-parser-js's (`Chrome Mobile` →
//! `Chrome`, `Samsung Internet` → `Samsung Browser`, ...). Engine, CPU and device type are not in
//! uap-core: small rule sets below derive them from the string. Results are cached, since the same
//! user agents arrive again and again.

use std::path::Path;
use std::sync::Arc;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// User agents longer than this are cut before parsing: real ones are a few hundred bytes, and the
/// regexes' cost grows with the length.
pub const MAX_USER_AGENT: usize = 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAgentInfo {
    pub browser: Browser,
    pub engine: NameVersion,
    pub os: NameVersion,
    pub device: Device,
    pub cpu: Cpu,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Browser {
    pub name: Option<String>,
    pub version: Option<String>,
    pub major: Option<String>,
}

impl Browser {
    /// A browser and its version, with the major version read from it; no name, no version.
    pub fn named(name: Option<String>, version: Option<String>) -> Browser {
        let version = name.as_ref().and(version);
        let major = version.as_deref().map(|v| v.split('.').next().unwrap_or(v).to_owned());
        Browser { name, version, major }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameVersion {
    pub name: Option<String>,
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub vendor: Option<String>,
    pub model: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpu {
    pub architecture: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum UaError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("regexes.yaml is not a uap-core regex file: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("regexes.yaml has a regex the parser cannot compile: {0}")]
    Build(String),
}

/// A parser built from a uap-core `regexes.yaml`, with a cache of recent results.
pub struct UserAgentParser {
    extractor: ua_parser::Extractor<'static>,
    rules: Rules,
    cache: quick_cache::sync::Cache<Box<str>, Arc<UserAgentInfo>>,
}

impl UserAgentParser {
    /// Distinct user agents kept parsed: a few megabytes at most.
    pub const CACHE_ENTRIES: usize = 20_000;

    pub fn load(path: &Path) -> Result<Self, UaError> {
        let bytes = std::fs::read(path).map_err(|e| UaError::Read(path.display().to_string(), e))?;
        Self::from_yaml(&bytes)
    }

    pub fn from_yaml(yaml: &[u8]) -> Result<Self, UaError> {
        let regexes: ua_parser::Regexes<'static> = serde_yaml::from_slice(yaml)?;
        let extractor = ua_parser::Extractor::try_from(regexes).map_err(|e| UaError::Build(format!("{e:?}")))?;
        Ok(UserAgentParser {
            extractor,
            rules: Rules::new(),
            cache: quick_cache::sync::Cache::new(Self::CACHE_ENTRIES),
        })
    }

    /// The parsed user agent, from the cache when it was seen recently.
    pub fn parse(&self, ua: &str) -> Arc<UserAgentInfo> {
        let ua = truncate(ua);
        if let Some(hit) = self.cache.get(ua) {
            return hit;
        }
        let info = Arc::new(self.parse_uncached(ua));
        self.cache.insert(ua.into(), info.clone());
        info
    }

    /// uap-core's own answer, before renaming: browser, OS and device family, device brand and model
    /// (`Other` where nothing matched). The accuracy report compares it with uap-core's test files.
    pub fn raw(&self, ua: &str) -> (String, String, String, Option<String>, Option<String>) {
        let (b, o, d) = self.extractor.extract(ua);
        (
            b.map_or_else(|| "Other".into(), |b| b.family.into_owned()),
            o.map_or_else(|| "Other".into(), |o| o.os.into_owned()),
            d.as_ref().map_or_else(|| "Other".into(), |d| d.device.to_string()),
            d.as_ref().and_then(|d| d.brand.as_ref().map(|b| b.to_string())),
            d.as_ref().and_then(|d| d.model.as_ref().map(|m| m.to_string())),
        )
    }

    /// Parses without the cache (benchmarks and the accuracy report use it).
    pub fn parse_uncached(&self, ua: &str) -> UserAgentInfo {
        let ua = truncate(ua);
        let (browser, os, device) = self.extractor.extract(ua);
        let browser = match browser {
            Some(b) => {
                let version = join_version([b.major, b.minor, b.patch, b.patch_minor]);
                browser_name(&b.family, ua, version, &self.rules)
            }
            None => browser_name("Other", ua, None, &self.rules),
        };
        let o = os.unwrap_or_else(|| ua_parser::os::ValueRef { os: "Other".into(), ..Default::default() });
        let (name, version) = os_name(&o, ua, &self.rules);
        let mut info = UserAgentInfo {
            browser,
            engine: self.rules.engine(ua),
            os: NameVersion { name, version },
            device: device_of(device.as_ref()),
            cpu: Cpu { architecture: self.rules.cpu(ua) },
        };
        if info.device.kind.is_none() {
            info.device.kind = self.rules.device_type(ua, &info);
        }
        if info.device.model.as_deref().is_some_and(|m| names_a_product(ua, m)) {
            info.device.model = self.rules.android_model(ua);
        }
        info
    }
}

/// Whether `model` is the tail of a browser's or a bot's product token rather than a device: `Browser` out
/// of `HuaweiBrowser/11.1` (uap-core's Huawei rule reads it so when the agent names no model before it),
/// `CEBrowser` out of `SonyCEBrowser/1.0`. A model glued to its maker (`NokiaN8-00/014`) is a model.
fn names_a_product(ua: &str, model: &str) -> bool {
    let lower = model.to_ascii_lowercase();
    if !(lower.ends_with("browser") || lower.ends_with("bot")) {
        return false;
    }
    ua.match_indices(model).any(|(i, _)| {
        ua[..i].chars().next_back().is_some_and(|c| c.is_ascii_alphabetic()) && ua[i + model.len()..].starts_with('/')
    })
}

fn truncate(ua: &str) -> &str {
    if ua.len() <= MAX_USER_AGENT {
        return ua;
    }
    let mut end = MAX_USER_AGENT;
    while !ua.is_char_boundary(end) {
        end -= 1;
    }
    &ua[..end]
}

fn join_version<S: AsRef<str>>(parts: [Option<S>; 4]) -> Option<String> {
    let mut out = String::new();
    for p in parts.iter().map_while(|p| p.as_ref()) {
        let p = p.as_ref();
        if p.is_empty() {
            break;
        }
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(p);
    }
    (!out.is_empty()).then_some(out)
}

/// How ua-parser-js names what uap-core calls a browser family.
enum BrowserName {
    /// Same name in both.
    Same,
    Fixed(&'static str),
    /// ua-parser-js has no rule for it (apps, bots, libraries, WAP browsers): it names the engine
    /// family instead (`Android Browser`, `Mobile Safari`, `WebKit`), or nothing.
    Generic,
}

fn browser_naming(family: &str) -> BrowserName {
    use BrowserName::*;
    match family {
        "Chrome Mobile" | "Chrome Mobile iOS" => Fixed("Chrome"),
        "HeadlessChrome" => Fixed("Chrome Headless"),
        // `Opera Mobi` only with a `Version/` token after it: decided below.
        "Opera Mobile" => Fixed("Opera"),
        "Firefox Mobile" | "Firefox iOS" => Fixed("Firefox"),
        "Edge Mobile" => Fixed("Edge"),
        "IE Mobile" => Fixed("IEMobile"),
        "UC Browser" => Fixed("UCBrowser"),
        "Yandex Browser" => Fixed("Yandex"),
        "MiuiBrowser" => Fixed("MIUI Browser"),
        "Amazon Silk" => Fixed("Silk"),
        "Baidu Browser" => Fixed("Baidu"),
        "Dolfin" => Fixed("Dolphin"),
        "Ovi Browser" => Fixed("OviBrowser"),
        "Pale Moon" => Fixed("PaleMoon"),
        "QQ Browser" | "QQ Browser Mini" | "QQ Browser Mobile" => Fixed("QQBrowser"),
        "Nokia Browser" | "NokiaBrowser" => Fixed("NokiaBrowser"),
        "DuckDuckGo Mobile" => Fixed("DuckDuckGo"),
        "Openwave" => Fixed("UP.Browser"),
        "Windows Live Mail" => Fixed("IE"),
        "Android"
        | "Chrome Mobile WebView"
        | "Mobile Safari"
        | "Mobile Safari UI/WKWebView"
        | "Safari"
        | "WebKit Nightly"
        | "Other"
        | "Nokia OSS Browser"
        | "Nokia Services (WAP) Browser"
        | "Nokia"
        | "BlackBerry"
        | "BlackBerry WebKit"
        | "HbbTV"
        | "Otter"
        | "Pandora"
        | "Spotify"
        | "iTunes"
        | "AdobeAIR"
        | "webOS Browser"
        | "NetFront NX"
        | "Baidu Explorer"
        | "Google"
        | "Phantom Browser"
        | "Dolphin"
        | "Teleca Browser"
        | "ONE Browser"
        | "SEMC-Browser"
        | "WhatsApp"
        | "HTC"
        | "Luminary"
        | "Pinterest"
        | "Instagram"
        | "Outlook" => Generic,
        _ => Same,
    }
}

/// Browser names ua-parser-js 1.0 gives. A uap-core family outside this list (crawlers, HTTP
/// libraries, apps) is named the way ua-parser-js names what it does not recognise: by its engine
/// family, or not at all.
const UA_PARSER_JS_BROWSERS: &[&str] = &[
    "Android Browser",
    "Arora",
    "Avast Secure Browser",
    "AVG Secure Browser",
    "Baidu",
    "Basilisk",
    "BOLT",
    "Brave",
    "Chrome",
    "Chrome Headless",
    "Chrome WebView",
    "Chromium",
    "Coc Coc",
    "Conkeror",
    "Daum",
    "Dolphin",
    "Dragon",
    "DuckDuckGo",
    "Edge",
    "Electron",
    "Facebook",
    "Fennec",
    "Firefox",
    "Firefox Focus",
    "Firefox Reality",
    "GoBrowser",
    "GSA",
    "HeyTap",
    "Huawei Browser",
    "ICE Browser",
    "IceCat",
    "IE",
    "IEMobile",
    "Instagram",
    "Iron",
    "Jasmine",
    "KAKAOSTORY",
    "KAKAOTALK",
    "Kindle",
    "Klar",
    "Konqueror",
    "Ladybird",
    "Line",
    "Links",
    "Lunascape",
    "Maxthon",
    "Midori",
    "Minimo",
    "MIUI Browser",
    "Mobile Safari",
    "Mosaic",
    "Mozilla",
    "NAVER",
    "NetFront",
    "Netscape",
    "NokiaBrowser",
    "Obigo",
    "Oculus Browser",
    "Opera",
    "Opera Coast",
    "Opera GX",
    "Opera Mini",
    "Opera Mobi",
    "Opera Tablet",
    "Opera Touch",
    "OviBrowser",
    "PaleMoon",
    "PhantomJS",
    "Polaris",
    "Puffin",
    "QQBrowser",
    "QQBrowserLite",
    "Quark",
    "QupZilla",
    "rekonq",
    "RockMelt",
    "Safari",
    "Sailfish Browser",
    "Samsung Internet",
    "SeaMonkey",
    "Silk",
    "Skyfire",
    "Sleipnir",
    "Slim",
    "Snapchat",
    "TikTok",
    "Twitter",
    "UCBrowser",
    "UP.Browser",
    "Vivaldi",
    "Waterfox",
    "WeChat",
    "WebKit",
    "Whale",
    "Yandex",
];

/// The families uap-core gives a browser it knows only by its engine: a vendor's own token beats them.
const ENGINE_FAMILIES: &[&str] = &[
    "Chrome",
    "Chrome Mobile",
    "Chrome Mobile WebView",
    "Chromium",
    "Android",
    "Safari",
    "Mobile Safari",
    "Mobile Safari UI/WKWebView",
    "WebKit Nightly",
    "Other",
];

/// uap-core's browser family in ua-parser-js's words.
fn browser_name(family: &str, ua: &str, version: Option<String>, rules: &Rules) -> Browser {
    for (re, name, over_any) in &rules.vendors {
        if !(*over_any || ENGINE_FAMILIES.contains(&family)) {
            continue;
        }
        if let Some(c) = re.captures(ua) {
            return Browser::named(Some((*name).to_owned()), c.get(1).map(|m| m.as_str().to_owned()));
        }
    }
    let mut naming = if ua.contains("CFNetwork/") { BrowserName::Generic } else { browser_naming(family) };
    let known = |n: &str| UA_PARSER_JS_BROWSERS.iter().any(|k| k.eq_ignore_ascii_case(n));
    match naming {
        BrowserName::Same if !known(family) => naming = BrowserName::Generic,
        BrowserName::Fixed(n) if !known(n) => naming = BrowserName::Generic,
        _ => {}
    }
    let (name, version): (Option<String>, Option<String>) = match naming {
        BrowserName::Same => (Some(family.to_owned()), version),
        BrowserName::Fixed(n) => (Some(n.to_owned()), version),
        BrowserName::Generic => match family {
            "Chrome Mobile WebView" if rules.webview.is_match(ua) => (Some("Chrome WebView".into()), version),
            _ => rules.generic_browser(ua),
        },
    };
    // Where ua-parser-js asks more of the string than uap-core does.
    let (name, version) = match family {
        "Opera Mobile" => {
            (Some(if rules.opera_mobi.is_match(ua) { "Opera Mobi" } else { "Opera" }.to_owned()), version)
        }
        "Opera Mini" if !ua.to_ascii_lowercase().contains("opera mini/") => (Some("Opera".to_owned()), version),
        "UC Browser" | "Nokia Browser" if !rules.own_token.is_match(ua) => rules.generic_browser(ua),
        _ => (name, version),
    };
    Browser::named(name, version)
}

/// uap-core's OS family and version in ua-parser-js's words.
fn os_name(o: &ua_parser::os::ValueRef<'_>, ua: &str, rules: &Rules) -> (Option<String>, Option<String>) {
    let version = join_version([o.major.clone(), o.minor.clone(), o.patch.clone(), o.patch_minor.clone()]);
    // Systems that name themselves beside another one: HarmonyOS (and Android-x86) beside the Android
    // version they run, a watch's OS, TV platforms beside Linux. ua-parser-js reads these first.
    if let Some(c) = rules.beside_android.captures(ua) {
        return (Some(c[2].to_owned()), Some(c[1].to_owned()));
    }
    if let Some(c) = rules.watch_os.captures(ua) {
        return (Some("watchOS".into()), Some(c[1].to_owned()));
    }
    if let Some(c) = rules.tv_platform.captures(ua) {
        let name = c.get(1).or(c.get(2)).map(|m| m.as_str().to_owned());
        return (name, c.get(3).map(|m| m.as_str().to_owned()));
    }
    let family = o.os.as_ref();
    let name = match family {
        "Other" | "BREW" | "Brew MP" | "Samsung" | "Roku" | "Nokia Series 30 Plus" => {
            // ua-parser-js knows some systems uap-core does not (and the reverse).
            return (rules.written_os(ua), None);
        }
        "Mac OS X" => "Mac OS",
        "Chrome OS" => "Chromium OS",
        "WatchOS" => "watchOS",
        "Nokia Series 40" => "Series40",
        "BlackBerry OS" => "BlackBerry",
        "Windows" if !rules.windows.is_match(ua) => return (None, None),
        "Windows Phone" if ua.contains("Windows Phone OS") => "Windows Phone OS",
        "Symbian OS" | "Symbian^3" | "Android" | "Bada" | "Tizen" | "webOS" | "Web0S" | "KaiOS" | "MeeGo" => {
            // ua-parser-js keeps the spelling of the string (`android`, `SYMBIAN`).
            return match rules.written_os(ua) {
                Some(written) => (Some(written), version),
                None if family == "Symbian OS" || family == "Symbian^3" => (None, None),
                None => (Some(family.to_owned()), version),
            };
        }
        other => other,
    };
    if name == "Linux" && version.is_none() {
        // ua-parser-js reports some architecture tokens as Linux's version (`Linux i686`), not x86_64 or arm.
        let arch = ua.find("Linux ").map(|i| &ua[i + 6..]).and_then(|rest| {
            let token: String =
                rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.').collect();
            let lower = token.to_ascii_lowercase();
            (!token.is_empty() && !lower.starts_with("x86") && !lower.starts_with("arm")).then_some(token)
        });
        return (Some(name.into()), arch);
    }
    (Some(name.into()), version)
}

fn device_of(d: Option<&ua_parser::device::ValueRef<'_>>) -> Device {
    let Some(d) = d else { return Device::default() };
    if d.device == "Other" || d.device == "Spider" {
        return Device::default();
    }
    Device {
        vendor: d.brand.as_deref().filter(|b| !b.is_empty() && !b.starts_with("Generic")).map(str::to_owned),
        model: d.model.as_deref().filter(|m| !m.is_empty()).map(str::to_owned),
        kind: None,
    }
}

/// Engine, CPU and device type (not in uap-core), and the few places where ua-parser-js reads the
/// string itself rather than naming a family: rules on the string, in ua-parser-js's order of priority.
struct Rules {
    /// Browsers that name themselves with a token of their own beside the Chrome or Safari they are built
    /// on (ua-parser-js reads these first; uap-core has no family for most): the name, and whether the
    /// token wins over any family or only over the engine's generic ones.
    vendors: Vec<(Regex, &'static str, bool)>,
    edge_html: Regex,
    blink: Regex,
    engines: Regex,
    gecko: Regex,
    cpus: Vec<(Regex, Arch)>,
    webview: Regex,
    opera_mobi: Regex,
    own_token: Regex,
    windows: Regex,
    written_os: Regex,
    beside_android: Regex,
    watch_os: Regex,
    tv_platform: Regex,
    generic: Vec<(Regex, Generic)>,
    tv: Regex,
    console: Regex,
    wearable: Regex,
    embedded: Regex,
    tablet_model: Regex,
    android_mobile: Regex,
    /// The model an Android agent names after its version (and after `HarmonyOS;`).
    android_model: Regex,
    samsung_phone: Regex,
    phone_maker: Regex,
    lg: Regex,
    android_tablet: Regex,
    tablet_word: Regex,
    mobile_word: Regex,
}

/// Vendors (as uap-core spells them) whose devices ua-parser-js gives no type: Macs, and makers of
/// feature phones and TVs that its rules do not know.
const UNTYPED_VENDORS: &[&str] = &[
    "Apple", "DoCoMo", "sprd", "Kyocera", "Amoi", "Philips", "Bird", "HUAWEI", "i-mate", "unknown", "Palm", "alps",
    "Thomson", "PEAQ", "MEDION",
];

#[derive(Clone, Copy)]
enum Arch {
    Fixed(&'static str),
    /// The matched token, lower-cased.
    Token,
}

#[derive(Clone, Copy)]
enum Generic {
    Fixed(&'static str),
    AndroidBrowser,
    /// `Mobile Safari` or `Safari`, from the matched token.
    Safari,
    /// The matched name as the string spells it (`WebKit`, `Webkit`, `NETFRONT`).
    Written,
}

impl Rules {
    fn new() -> Rules {
        let re = |s: &str| Regex::new(s).expect("built-in rule compiles");
        Rules {
            vendors: vec![
                (re(r"(?i)\bopx/([\w.]+)"), "Opera GX", true),
                (re(r"(?i)\bopt/([\w.]+)"), "Opera Touch", true),
                (re(r"(?i)\bya(?:search)?browser/([\w.]+)"), "Yandex", true),
                (re(r"(?i)\bhuaweibrowser/([\w.]+)"), "Huawei Browser", true),
                (re(r"(?i)\bvivobrowser/([\w.]+)"), "Vivo Browser", true),
                (re(r"(?i)\bheytapbrowser/([\w.]+)"), "HeyTap", true),
                (re(r"(?i)\bquark(?:pc)?/([\w.]+)"), "Quark", true),
                (re(r"(?i)\bb(?:a?idu(?:boxapp|browser)|idubrowser)[/ ]?([\w.]+)?"), "Baidu", true),
                (re(r"(?i)\bsogoumobilebrowser/([\w.]+)"), "Sogou Mobile", true),
                (re(r"(?i)\bmetasr[/ ]?([\w.]+)?"), "Sogou Explorer", true),
                (re(r"(?i)\bmicromessenger/([\w.]+)"), "WeChat", true),
                (re(r"(?i)\bmiuibrowser/([\w.]+)"), "MIUI Browser", true),
                (re(r"(?i)\bnaver\(inapp;[^)]*?(\d+\.[\d.]+)"), "NAVER", true),
                (re(r"(?i)\bsleipnir/([\w.]+)"), "Sleipnir", true),
                (re(r"(?i)\boculusbrowser/([\w.]+)"), "Oculus Browser", true),
                (re(r"(?i)\bopr/([\w.]+)"), "Opera", false),
            ],
            edge_html: re(r"(?i)windows.+ edge/([\w.]+)"),
            blink: re(r"(?i)webkit/537\.36.+chrome/([\w.]+)"),
            engines: re(
                r"(?i)(presto|webkit|trident|netfront|netsurf|amaya|lynx|w3m|goanna|servo)/([\w.]+)|(khtml|tasman|links)[/ ]\(?([\w.]+)|\b(libweb)",
            ),
            gecko: re(r"(?i)rv:([\w.]{1,9})\b.+(gecko)"),
            cpus: vec![
                (re(r"(?i)\b(?:amd|x|x86[-_]?|wow|win)64\b"), Arch::Fixed("amd64")),
                (re(r"(?i)ia32;|\b(?:i[346]|x)86(?:pc)?\b"), Arch::Fixed("ia32")),
                (re(r"(?i)\b(?:aarch64|arm(?:v?[89]e?l?|_?64))\b"), Arch::Fixed("arm64")),
                (re(r"(?i)\barm(?:v[67])?ht?n?[fl]p?\b"), Arch::Fixed("armhf")),
                (re(r"(?i) (?:ce|mobile); ppc;|/[\w.]+arm\b"), Arch::Fixed("arm")),
                (re(r"(?i)(?:ppc|powerpc)64(?: mac|;|\))"), Arch::Fixed("ppc64")),
                (re(r"(?i)(?:ppc|powerpc)(?: mac|;|\))"), Arch::Fixed("ppc")),
                (re(r"(?i) sun4\w[;)]"), Arch::Fixed("sparc")),
                (re(r"(?i)\barm(?:v[1-7]l?|v[5-7]1l?|;|eabi)"), Arch::Fixed("arm")),
                (re(r"(?i)\b(?:avr32|ia64;|68k\)|(?:irix|mips|sparc)(?:64)?\b|pa-risc)"), Arch::Token),
            ],
            webview: re(r"(?i); wv\).+chrome/"),
            windows: re(r"(?i)windows[/ ][ntce\d. ]+\w|\bwin(?:3|9|n|dows 9x)"),
            written_os: re(
                r"(?i)\b(android|bada|blackberry|kaios|maemo|meego|qnx|sailfish|series40|symbian|tizen|webos)",
            ),
            beside_android: re(r"(?i)droid ([\w.]+)\b.+(android[- ]x86|harmonyos)"),
            watch_os: re(r"(?i)watch(?: ?os[,/]|\d,\d/)([\d.]+)"),
            tv_platform: re(r"(?i)\b(netrange)mmh|\b(nettv)/(\d+\.[\w.]+)"),
            opera_mobi: re(r"(?i)opera mobi\b.+version/"),
            own_token: re(r"(?i)\buc ?browser|juc.+ucweb|nokiabrowser/"),
            generic: vec![
                (re(r"^Opera/([\w.]+)"), Generic::Fixed("Opera")),
                (re(r"(?i)\binstagram[/ ]([-\w.]+)"), Generic::Fixed("Instagram")),
                (re(r"(?i)\bs40ovibrowser/([\w.]+)"), Generic::Fixed("OviBrowser")),
                (re(r"(?i)iemobile[/ ]?([\w.]*)"), Generic::Fixed("IEMobile")),
                (re(r"(?i)\bmsie ([\w.]+)"), Generic::Fixed("IE")),
                (re(r"(?i)droid.+ version/([\w.]+)\b.+safari"), Generic::AndroidBrowser),
                (re(r"(?i)version/([\w.,]+) .*mobile/\w+ safari"), Generic::Fixed("Mobile Safari")),
                (re(r"(?i)version/([\w.,]+) .*(mobile ?safari|safari)"), Generic::Safari),
                (re(r"(?i)webkit.+?()(mobile ?safari|safari)/[\w.]+"), Generic::Safari),
                (re(r"(?i)\b(netfront|up\.browser|upbrowser|obigo|polaris)[/ ]?([\w.]+)?"), Generic::Written),
                (re(r"(?i)(webkit|khtml)/([\w.]+)"), Generic::Written),
            ],
            tv: re(
                r"(?i)smart-?tv|googletv|hbbtv/\d+\.\d+\.\d+ +\([\w+ ]*; *[\w\d][^;]*;|appletv|apple tv|crkey|android tv|opera tv|netcast|viera|bravia|aquos|tizen.+tv|web0s|\bdtv\b|roku|\baft\w+(?: bui|\))|\bmitv-\w{5} bui|tv; rv:",
            ),
            console: re(r"(?i)playstation|xbox|nintendo|ouya|shield (?:android )?tv"),
            wearable: re(
                r"(?i)\bwatch\b|watch(?: ?os[,/]|\d,\d/)[\d.]+|sm-[lr]\d|glass \d|\bquest\b|pico (?:neo|\d)|pebble",
            ),
            embedded: re(r"(?i)homepod|aeobc|windows iot|tesla"),
            // Tablets known by their maker's model numbers, as ua-parser-js lists them per maker: Apple, Samsung,
            // Honor, Huawei, Xiaomi, OPPO, Lenovo, Google, Sony, Amazon, Asus, TCL, Acer, Archos, Nvidia.
            tablet_model: re(concat!(
                r"(?i)\(ipad;[-\w),; ]+apple|applecoremedia/[\w.]+ \(ipad|\bipad\d\d?,\d\d?[;\]].+ios|playbook",
                r"|\bsm-[ptx]\w{2,4}|\bgt-[pn]\d{2,4}|\bsch-i[89]0\d|shw-m380s|sgh-t8[56]9|nexus (?:7|9|10)\b",
                r"|\b(?:(?:brt|eln|hey2?|gdi|jdn)-a?[lnw]09|(?:ag[rm]3?|jdn2|kob2)-a?[lw]0[09]hn)(?: bui|\)|;)",
                r"|\b(?:(?:ag[rs][2356]?k?|bah[234]?|bg[2o]|bt[kv]|cmr|cpn|db[ry]2?|jdn2|got|kob2?k?|mon|pce|scm|sht?|[tw]gr|vrd)-[ad]?[lw][0125][09]b?|605hw|bg2-u03|(?:gem|fdr|m2|ple|t1)-[7a]0[1-4][lu]|t1-a2[13][lw]|mediapad[\w. ]*(?: bui|\)))",
                r"|oid[^)]+; (?:2[\dbc]{4}(?:182|283|rp\w{2})[cgl]|m2105k81a?c)(?: bui|\))|\b(?:red)?mi[-_ ]?pad[\w\- ]*(?: bui|\))",
                r"|\bopd2\d{3}a?(?: bui|\))",
                r"|(?:ideatab[-\w ]+|602lv|d-42a|a101lv|a2109a|a3500-hv|s[56]000|pb-6505[my]|tb-?x?\d{3,4}(?:f[cu]|xu|[av])|yt\d?-[jx]?\d+[lfmx])(?: bui|;|\)|/)",
                r"|lenovo ?(?:b[68]0[08]0-?[hf]?|tab[\w\-]+?|tb[\w\-]{6,7})(?: bui|;|\)|/)",
                r"|pixel (?:c|tablet)\b|sony tablet [ps]|\b(?:sony)?sgp\w+(?: bui|\))",
                r"|\bkf[a-z]{2}wi(?: bui|\))|\bkf[a-z]{2,}\b.+silk/",
                r"|(?:\b|asus_)(?:transfo[prime ]{4,10} \w+|eeepc|slider \w+|padfone|p00[cj])",
                r"|droid [\w.]+; (?:8[14]9[16]|9(?:0(?:48|60|8[01])|1(?:3[27]|66)|2(?:6[69]|9[56])|466))[gqswx]\w*(?:\)| bui)",
                r"|droid.+; [ab][1-7]-?[0178a]\d",
                r"|; (?:x67 5g|tikeasy \w+|ac[1789]\d\w+)(?: b|\))|archos ?(?:5|gamepad2?|(?:[\w ]*[t1789]|hello) ?\d+[\w ]*)(?: b|\))",
                r"|(?:tegranote|shield t[\w\- ]*?)(?: b|\))",
            )),
            // Android phones and tablets of makers not listed: a model after the version, then Safari.
            android_mobile: re(r"(?i)droid .+?; [^;]+?(?: bui|; wv\)|\) applew).+? mobile safari"),
            android_model: re(r"(?i)\bandroid [\w.]+;(?: harmonyos;)? ([^;)]+?)(?: build/[^;)]*)?[;)]"),
            // Makers whose names ua-parser-js's phone rules look for in the string.
            phone_maker: re(
                r"(?i)samsung[-_ ]\w|\blg[-e;/ ]+\w|\bmot(?:orola)?[- ]|nokia|\bhtc|sony|alcatel|\b(?:huawei|honor)[-\w ]+[;)]|\bzte|\bsie-|lenovo|asus|xiaomi|oppo|vivo|realme|oneplus|blackberry|kyocera|sharp|siemens|meizu|tecno|infinix|micromax|coolpad|archos|acer|dell|nexus|moto\b|\b(?:s[cgp]h|gt|sm)-\w+",
            ),
            lg: re(r"(?i)\blg[-e;/ ]+(\w+)"),
            samsung_phone: re(r"(?i)\b(?:s[cgp]h|gt|sm)-\w+|galaxy nexus"),
            android_tablet: re(r"(?i)droid .+?; [^;]+?(?: bui|\) applew).+? safari"),
            tablet_word: re(r"(?i)\b(?:tablet|tab)[;/]|focus/\d"),
            mobile_word: re(r"(?i)iphone|ipod|phone|mobile(?:[;/]| [ \w/.]*safari)|pda.+windows ce|iemobile"),
        }
    }

    fn engine(&self, ua: &str) -> NameVersion {
        let found = |n: &str, v: Option<&str>| NameVersion { name: Some(n.into()), version: v.map(str::to_owned) };
        if let Some(c) = self.edge_html.captures(ua) {
            return found("EdgeHTML", c.get(1).map(|m| m.as_str()));
        }
        if let Some(c) = self.blink.captures(ua) {
            let v = c.get(1).map(|m| m.as_str());
            if !v.is_some_and(|v| v.starts_with("27")) {
                return found("Blink", v);
            }
        }
        if let Some(c) = self.engines.captures(ua) {
            // ua-parser-js keeps the string's spelling (`AppleWebkit/` gives `Webkit`), and says w3m
            // and LibWeb its own way.
            let (name, version) = match (c.get(1), c.get(3), c.get(5)) {
                (Some(n), _, _) => (n.as_str(), c.get(2)),
                (_, Some(n), _) => (n.as_str(), c.get(4)),
                (_, _, Some(n)) => (n.as_str(), None),
                _ => return NameVersion::default(),
            };
            let name = match name.to_ascii_lowercase().as_str() {
                "libweb" => "LibWeb",
                _ => name,
            };
            return found(name, version.map(|m| m.as_str()));
        }
        if let Some(c) = self.gecko.captures(ua) {
            return found(&c[2], c.get(1).map(|m| m.as_str()));
        }
        NameVersion::default()
    }

    /// The model token after an Android version, when it is one (not `wv`, `K`, `U` or a services token).
    fn android_model(&self, ua: &str) -> Option<String> {
        let token = self.android_model.captures(ua)?.get(1)?.as_str().trim();
        let lower = token.to_ascii_lowercase();
        let not_a_model = ["wv", "k", "u", "mobile", "tablet"].contains(&lower.as_str())
            || lower.starts_with("hmscore")
            || lower.starts_with("gmscore")
            || lower.len() < 2;
        (!not_a_model).then(|| token.to_owned())
    }

    fn cpu(&self, ua: &str) -> Option<String> {
        self.cpus.iter().find_map(|(re, arch)| {
            let m = re.find(ua)?;
            Some(match arch {
                Arch::Fixed(a) => (*a).to_owned(),
                Arch::Token => m.as_str().trim_end_matches([';', ')']).to_ascii_lowercase(),
            })
        })
    }

    /// The OS as the string spells it, for the systems ua-parser-js names that way.
    fn written_os(&self, ua: &str) -> Option<String> {
        self.written_os.captures(ua).map(|c| c[1].to_owned())
    }

    fn generic_browser(&self, ua: &str) -> (Option<String>, Option<String>) {
        for (re, kind) in &self.generic {
            let Some(c) = re.captures(ua) else { continue };
            return match kind {
                Generic::Fixed(name) => (Some((*name).to_owned()), c.get(1).map(|m| m.as_str().to_owned())),
                Generic::AndroidBrowser => (Some("Android Browser".into()), c.get(1).map(|m| m.as_str().to_owned())),
                Generic::Safari => {
                    let mobile = c[2].to_ascii_lowercase().starts_with("mobile");
                    let name = if mobile { "Mobile Safari" } else { "Safari" };
                    (Some(name.into()), c.get(1).map(|m| m.as_str().to_owned()).filter(|v| !v.is_empty()))
                }
                Generic::Written => (Some(c[1].to_owned()), c.get(2).map(|m| m.as_str().to_owned())),
            };
        }
        (None, None)
    }

    fn device_type(&self, ua: &str, info: &UserAgentInfo) -> Option<String> {
        // ua-parser-js tries its vendors' phone rules before its TV rules: "LG smartTV" is a phone to it.
        let lg_phone = self.lg.captures(ua).is_some_and(|c| {
            let word = c[1].to_ascii_lowercase();
            !(word.starts_with("netcast") || word.starts_with("browser") || word.starts_with("android"))
        });
        let kind = if lg_phone && !self.tablet_model.is_match(ua) {
            "mobile"
        } else if self.tv.is_match(ua) {
            "smarttv"
        } else if self.console.is_match(ua) {
            "console"
        } else if self.wearable.is_match(ua) {
            "wearable"
        } else if self.embedded.is_match(ua) {
            "embedded"
        } else if self.tablet_model.is_match(ua) {
            "tablet"
        } else if self.android_mobile.is_match(ua) || self.samsung_phone.is_match(ua) {
            "mobile"
        } else if self.android_tablet.is_match(ua) || self.tablet_word.is_match(ua) {
            "tablet"
        } else if self.mobile_word.is_match(ua)
            || (info.device.vendor.as_deref().is_some_and(|v| !UNTYPED_VENDORS.contains(&v))
                && self.phone_maker.is_match(ua))
        {
            "mobile"
        } else {
            return None;
        };
        Some(kind.to_owned())
    }
}
