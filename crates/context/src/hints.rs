//! User-Agent Client Hints (issue 13). Browsers froze the User-Agent string (Chrome on Windows 11 still
//! says `Windows NT 10.0`, on Android `Android 10; K`); the hints tell what the string no longer does.
//! They come as request headers (`Sec-CH-UA`, `Sec-CH-UA-Full-Version-List`, `Sec-CH-UA-Platform`,
//! `Sec-CH-UA-Platform-Version`, `Sec-CH-UA-Model`, `Sec-CH-UA-Mobile`) or in the body
//! (`context.device.clientHints`, or the web SDK's `providedInfo.clientHints`), and beat the string where
//! they say something.

use smartauth_domain::context::ClientHints;

use crate::ua::UserAgentInfo;

/// `(brand, version)` pairs of a brand list, without the GREASE entries (`"Not A;Brand"`, `"Not)A;Brand"`,
/// ...). Reads the structured-header form (`"Google Chrome";v="120", "Chromium";v="120"`, RFC 8941) and the
/// SDK's plain one (`Google Chrome 120.0.6099.71, Chromium 120.0.6099.71`).
pub fn brands(list: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if list.trim_start().starts_with('"') {
        let mut rest = list;
        while let Some(start) = rest.find('"') {
            let after = &rest[start + 1..];
            // A brand is a quoted string with \" and \\ escapes.
            let (mut brand, mut end, mut escaped) = (String::new(), None, false);
            for (i, c) in after.char_indices() {
                match (escaped, c) {
                    (true, c) => {
                        brand.push(c);
                        escaped = false;
                    }
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(i);
                        break;
                    }
                    (false, c) => brand.push(c),
                }
            }
            let Some(end) = end else { break };
            rest = &after[end + 1..];
            let item_end = rest.find(',').unwrap_or(rest.len());
            let params = &rest[..item_end];
            let version = params
                .split(';')
                .filter_map(|p| p.trim().strip_prefix("v="))
                .map(|v| v.trim().trim_matches('"').to_owned())
                .next()
                .unwrap_or_default();
            out.push((brand, version));
            rest = &rest[item_end..];
        }
    } else {
        for item in list.split(',') {
            let item = item.trim();
            if let Some((brand, version)) = item.rsplit_once(' ') {
                out.push((brand.trim().to_owned(), version.trim().to_owned()));
            }
        }
    }
    out.retain(|(brand, _)| !is_grease(brand) && !brand.is_empty());
    out
}

/// GREASE brands are made of "Not", "A" and "Brand" with punctuation between them, which changes at
/// every release.
fn is_grease(brand: &str) -> bool {
    let letters: String = brand.chars().filter(char::is_ascii_alphabetic).collect::<String>().to_ascii_lowercase();
    letters == "notabrand"
}

/// A brand in ua-parser-js's words.
fn brand_name(brand: &str) -> &str {
    match brand {
        "Google Chrome" => "Chrome",
        "Microsoft Edge" => "Edge",
        "Android WebView" => "Chrome WebView",
        "HeadlessChrome" => "Chrome Headless",
        "HuaweiBrowser" => "Huawei Browser",
        "Miui Browser" => "MIUI Browser",
        "YaBrowser" | "Yandex" => "Yandex",
        "OperaMobile" => "Opera Mobi",
        other => other,
    }
}

/// The OS the platform hints name, in ua-parser-js's words, with the version the frozen string cannot say.
fn platform(name: &str, version: Option<&str>, written: Option<&str>) -> Option<(String, Option<String>)> {
    let version = version.map(str::trim).filter(|v| !v.is_empty());
    let major = version.and_then(|v| v.split('.').next()).and_then(|m| m.parse::<u32>().ok());
    Some(match name {
        // UniversalApiContract: 1-10 is Windows 10, 13 and later Windows 11, 0 older (keep the string's).
        "Windows" => match major {
            Some(m) if m >= 13 => ("Windows".into(), Some("11".into())),
            Some(m) if m >= 1 => ("Windows".into(), Some("10".into())),
            _ => ("Windows".into(), written.map(str::to_owned)),
        },
        "macOS" => ("Mac OS".into(), version.map(|v| v.replace('_', "."))),
        "Chrome OS" | "Chromium OS" => ("Chromium OS".into(), version.map(str::to_owned)),
        "Android" | "iOS" | "Linux" | "Fuchsia" => (name.into(), version.map(str::to_owned)),
        _ => return None,
    })
}

/// Applies the hints to what the User-Agent string said: the brand (not the engine) names the browser, the
/// platform and its version name the OS, the model and `mobile` describe the device.
pub fn apply(info: &mut UserAgentInfo, hints: &ClientHints) {
    let list = hints.full_version_list.as_deref().or(hints.brands.as_deref()).map(brands).unwrap_or_default();
    // A browser's own brand beats the engine's "Chromium" entry.
    if let Some((brand, version)) = list.iter().find(|(b, _)| b != "Chromium").or_else(|| list.first()) {
        info.browser = match version.is_empty() {
            false => crate::ua::Browser::named(Some(brand_name(brand).to_owned()), Some(version.clone())),
            // No version with the brand: the string's stays.
            true => crate::ua::Browser { name: Some(brand_name(brand).to_owned()), ..info.browser.clone() },
        };
    }
    if let Some(name) = hints.platform.as_deref() {
        if let Some((os, version)) = platform(name, hints.platform_version.as_deref(), info.os.version.as_deref()) {
            info.os.name = Some(os);
            if version.is_some() {
                info.os.version = version;
            }
        }
    }
    if let Some(model) = hints.model.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        info.device.model = Some(model.to_owned());
    }
    if hints.mobile == Some(true) && info.device.kind.as_deref().is_none_or(|k| k == "tablet") {
        info.device.kind = Some("mobile".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brand_lists_in_both_forms_lose_their_grease() {
        let header = r#""Not_A Brand";v="8", "Chromium";v="120", "Google Chrome";v="120""#;
        assert_eq!(brands(header), [("Chromium".into(), "120".into()), ("Google Chrome".into(), "120".into())]);
        let odd = r#""Not)A;Brand";v="99", "Brave \"Beta\"";v="1.2""#;
        assert_eq!(brands(odd), [("Brave \"Beta\"".to_owned(), "1.2".to_owned())]);
        let sdk = "Microsoft Edge 120.0.2210.91, Chromium 120.0.6099.130";
        assert_eq!(brands(sdk)[0], ("Microsoft Edge".into(), "120.0.2210.91".into()));
    }

    #[test]
    fn hints_beat_the_frozen_string() {
        let mut info = UserAgentInfo::default();
        info.browser.name = Some("Chrome".into());
        info.os = crate::ua::NameVersion { name: Some("Windows".into()), version: Some("10".into()) };
        let hints = ClientHints {
            full_version_list: Some(r#""Not A(Brand";v="99.0.0.0", "Microsoft Edge";v="121.0.2277.83""#.into()),
            platform: Some("Windows".into()),
            platform_version: Some("15.0.0".into()),
            ..ClientHints::default()
        };
        apply(&mut info, &hints);
        assert_eq!(info.browser.name.as_deref(), Some("Edge"));
        assert_eq!(info.browser.major.as_deref(), Some("121"));
        assert_eq!((info.os.name.as_deref(), info.os.version.as_deref()), (Some("Windows"), Some("11")));
        // Windows 10 reports 1-10; 0 is older than 10, and the string's version stays.
        let mut older = info.clone();
        older.os.version = Some("7".into());
        apply(
            &mut older,
            &ClientHints {
                platform: Some("Windows".into()),
                platform_version: Some("0.1.0".into()),
                ..ClientHints::default()
            },
        );
        assert_eq!(older.os.version.as_deref(), Some("7"));
        let mut phone = UserAgentInfo::default();
        let android = ClientHints {
            platform: Some("Android".into()),
            platform_version: Some("14.0.0".into()),
            model: Some("SM-S918B".into()),
            mobile: Some(true),
            ..ClientHints::default()
        };
        apply(&mut phone, &android);
        assert_eq!((phone.os.version.as_deref(), phone.device.model.as_deref()), (Some("14.0.0"), Some("SM-S918B")));
        assert_eq!(phone.device.kind.as_deref(), Some("mobile"));
    }
}
