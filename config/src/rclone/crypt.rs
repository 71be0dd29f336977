//! The settings of a crypt remote (rclone's names and values), read and checked once: by
//! `s3gate config check` and at start through [`crate::Config::validate`], and by the VFS when it
//! opens the remote. An unknown setting, or a value rclone would not take, is refused naming the
//! remote and the setting.

use crate::{obscure, ConfigError, RemoteDef};

/// `filename_encryption`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilenameEncryption {
    Standard,
    Obfuscate,
    Off,
}

/// `filename_encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilenameEncoding {
    Base32,
    Base64,
    Base32768,
}

/// A crypt remote's settings, secrets revealed.
#[derive(Debug, Clone)]
pub struct CryptOptions {
    /// `OTHER:path` (a remote of the configuration) or a local directory.
    pub remote: String,
    pub password: String,
    /// `password2`, revealed; rclone's fixed salt when `None`.
    pub salt: Option<String>,
    pub filename_encryption: FilenameEncryption,
    pub directory_name_encryption: bool,
    pub filename_encoding: FilenameEncoding,
    /// The suffix of files whose names are not encrypted, with its dot (`""` for none).
    pub suffix: String,
}

/// Go's `strconv.ParseBool`, which rclone reads its booleans with.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

impl CryptOptions {
    /// Reads and checks every setting of the crypt remote `name`.
    pub fn parse(name: &str, def: &RemoteDef) -> Result<CryptOptions, ConfigError> {
        let bad = |option: &str, why: String| ConfigError::Refused {
            what: format!("option {option:?} of crypt remote {name:?}"),
            why,
        };
        let mut opts = CryptOptions {
            remote: String::new(),
            password: String::new(),
            salt: None,
            filename_encryption: FilenameEncryption::Standard,
            directory_name_encryption: true,
            filename_encoding: FilenameEncoding::Base32,
            suffix: ".bin".into(),
        };
        let reveal = |key: &str, v: &str| {
            obscure::reveal(v).map_err(|e| {
                bad(
                    key,
                    format!("{e} (rclone.conf keeps it obscured: `rclone obscure`)"),
                )
            })
        };
        for (key, value) in def.options() {
            match key.as_str() {
                "remote" => opts.remote = value,
                "password" => opts.password = reveal(&key, &value)?,
                "password2" if value.is_empty() => {}
                "password2" => opts.salt = Some(reveal(&key, &value)?),
                "filename_encryption" => {
                    opts.filename_encryption = match value.to_ascii_lowercase().as_str() {
                        "standard" => FilenameEncryption::Standard,
                        "obfuscate" => FilenameEncryption::Obfuscate,
                        "off" => FilenameEncryption::Off,
                        _ => {
                            return Err(bad(
                                &key,
                                format!("{value:?}: expected standard, obfuscate or off"),
                            ))
                        }
                    }
                }
                "directory_name_encryption" => {
                    opts.directory_name_encryption = parse_bool(&value)
                        .ok_or_else(|| bad(&key, format!("{value:?}: expected true or false")))?
                }
                "filename_encoding" => {
                    opts.filename_encoding = match value.to_ascii_lowercase().as_str() {
                        "base32" => FilenameEncoding::Base32,
                        "base64" => FilenameEncoding::Base64,
                        "base32768" => FilenameEncoding::Base32768,
                        _ => {
                            return Err(bad(
                                &key,
                                format!("{value:?}: expected base32, base64 or base32768"),
                            ))
                        }
                    }
                }
                "suffix" if value.eq_ignore_ascii_case("none") => opts.suffix = String::new(),
                // It ends every file name on the inner remote: a folder separator in it would
                // put files where rclone never looks for them.
                "suffix" if value.contains('/') || value.trim_start_matches('.').is_empty() => {
                    return Err(bad(
                        &key,
                        format!("{value:?}: expected a suffix such as .bin (or none)"),
                    ))
                }
                "suffix" if value.starts_with('.') => opts.suffix = value,
                // rclone takes a suffix without its dot, adding the dot (and saying so).
                "suffix" => opts.suffix = format!(".{value}"),
                // Every rclone remote may carry a description for people; it changes nothing.
                "description" => {}
                _ => {
                    return Err(bad(
                        &key,
                        "not a setting of crypt remotes here (remote, password, password2, \
                         filename_encryption, directory_name_encryption, filename_encoding, \
                         suffix, description)"
                            .into(),
                    ))
                }
            }
        }
        if opts.remote.trim().is_empty() {
            return Err(bad(
                "remote",
                "missing: the remote or directory to encrypt into".into(),
            ));
        }
        if opts.remote.trim_start().starts_with(':') {
            return Err(bad(
                "remote",
                "rclone's remotes made on the fly (:type:path) are not served here: define the \
                 remote in the configuration and name it (NAME:path)"
                    .into(),
            ));
        }
        if opts.password.is_empty() {
            return Err(bad(
                "password",
                "missing (obscured, as rclone.conf keeps it)".into(),
            ));
        }
        Ok(opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RemoteOption;

    fn def(options: &[(&str, &str)]) -> RemoteDef {
        RemoteDef {
            kind: "crypt".into(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), RemoteOption::Text(v.to_string())))
                .collect(),
        }
    }

    #[test]
    fn options_are_rclones_and_nothing_else() {
        let password = obscure::obscure_with_iv("pw", [7; 16]);
        let ok = def(&[
            ("remote", "other:sub"),
            ("password", &password),
            ("filename_encryption", "OFF"),
            ("directory_name_encryption", "False"),
            ("filename_encoding", "Base64"),
            ("suffix", "enc"),
            ("description", "as rclone.conf may have it"),
        ]);
        let o = CryptOptions::parse("vault", &ok).unwrap();
        assert_eq!(
            (
                o.filename_encryption,
                o.directory_name_encryption,
                o.filename_encoding
            ),
            (FilenameEncryption::Off, false, FilenameEncoding::Base64)
        );
        assert_eq!(
            (o.password.as_str(), o.suffix.as_str(), o.salt),
            ("pw", ".enc", None)
        );
        for (key, value, says) in [
            ("no_data_encryption", "true", "not a setting"),
            ("filename_encryption", "strong", "\"strong\""),
            ("filename_encoding", "base16", "\"base16\""),
            ("directory_name_encryption", "yes", "\"yes\""),
            ("password", "not obscured!", "rclone obscure"),
            ("password2", "c2FsdA", "rclone obscure"),
            ("suffix", "a/b", "\"a/b\""),
            ("suffix", ".", "\".\""),
            ("remote", ":s3:bucket/path", "on the fly"),
        ] {
            let mut d = ok.clone();
            d.options
                .insert(key.into(), RemoteOption::Text(value.into()));
            let e = CryptOptions::parse("vault", &d).unwrap_err().to_string();
            assert!(
                e.contains("\"vault\"") && e.contains(&format!("{key:?}")) && e.contains(says),
                "{e}"
            );
        }
        for missing in ["remote", "password"] {
            let mut d = ok.clone();
            d.options.remove(missing);
            let e = CryptOptions::parse("vault", &d).unwrap_err().to_string();
            assert!(e.contains("\"vault\"") && e.contains(missing), "{e}");
        }
        let mut none = ok.clone();
        none.options
            .insert("suffix".into(), RemoteOption::Text("None".into()));
        assert_eq!(CryptOptions::parse("vault", &none).unwrap().suffix, "");
    }
}
