//! Reading YAML into serde types with errors people can act on: the field path (from
//! serde_path_to_error), the line (from serde-saphyr), and no source snippet, because a
//! snippet would quote neighbouring lines, and one may hold a password or a private key.
//! Used by the config file and the web config file.

use serde::de::DeserializeOwned;

use super::ConfigError;

pub fn read<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    let options = serde_saphyr::options! { with_snippet: false };
    let mut path_hint: Option<String> = None;
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
            // `Spanned` adds a `.value` step that means nothing to the user.
            let path = e.path().to_string().replace(".value", "");
            if path != "." {
                path_hint = Some(path);
            }
            e.into_inner()
        })
    });
    result.map_err(|e| {
        let line = e.location().map(|l| l.line()).filter(|l| *l > 0);
        ConfigError {
            file: None,
            line,
            path: path_hint,
            message: clean_message(&e.to_string()),
        }
    })
}

/// serde-saphyr's message with its own location suffix removed (we print ours first).
fn clean_message(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message).trim();
    let cut = first
        .rfind(" at line ")
        .map(|i| &first[..i])
        .unwrap_or(first);
    let cut = cut.trim_end_matches(':');
    // serde-saphyr says just "invalid u32" for `-1` or `1.5`: say what is expected.
    match cut {
        "invalid u32" => "must be a whole number from 0 to 4294967295".into(),
        "invalid usize" | "invalid u64" => "must be a whole number, 0 or more".into(),
        other => other.to_string(),
    }
}
