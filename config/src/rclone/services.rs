//! rclone's cloud drives and the other services whose API an OpenDAL service speaks: Google
//! Drive, OneDrive, Dropbox, pCloud, Koofr, Yandex Disk, Swift and Backblaze B2, mapped option
//! by option.
//!
//! OAuth drives are served with the token rclone stored. The access token in it lasts about an
//! hour, so a drive is served only where the token can be refreshed as rclone refreshes it:
//! with the refresh token and the OAuth client (`client_id`, `client_secret`) of the section.
//! A section that relies on rclone's own built-in client cannot be refreshed by another
//! program and is refused at start, naming `client_id`, instead of failing an hour later. Yandex
//! Disk's tokens last a year and are served as they are, until their expiry.
//!
//! What each service does with deletes matches rclone's defaults (Drive, OneDrive: to the
//! trash or recycle bin); a section asking for anything else is refused.

use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::Options;
use crate::ConfigError;

/// The token rclone keeps in a drive's section (`token = {"access_token": …}`).
#[derive(Deserialize)]
struct Token {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    /// RFC 3339; rclone writes Go's zero time for a token that never expires.
    #[serde(default)]
    expiry: Option<String>,
}

impl Token {
    fn read(o: &Options<'_>) -> Result<Token, ConfigError> {
        let text = o.get("token").ok_or_else(|| {
            o.refuse_value(
                "token",
                "missing: authorise the remote with rclone first (`rclone config reconnect`)",
            )
        })?;
        serde_json::from_str(text)
            .map_err(|e| o.refuse_value("token", &format!("not a token rclone wrote: {e}")))
    }

    /// When the access token stops working, if it ever does.
    fn expires(&self) -> Option<OffsetDateTime> {
        let at = OffsetDateTime::parse(self.expiry.as_deref()?, &Rfc3339).ok()?;
        (at.year() > 1).then_some(at)
    }
}

/// Sets `set` to the service's options for rclone type `kind`; `None` when `kind` is not one
/// of these services.
pub(super) fn map(
    o: &Options<'_>,
    kind: &str,
    set: &mut dyn FnMut(&str, String),
) -> Result<Option<&'static str>, ConfigError> {
    let service = match kind {
        "drive" => {
            o.only(&[
                "client_id",
                "client_secret",
                "token",
                "scope",
                "root_folder_id",
                "team_drive",
                "service_account_file",
                "use_trash",
                "chunk_size",
                "upload_cutoff",
                "list_chunk",
                "pacer_min_sleep",
                "pacer_burst",
            ])?;
            for (option, why) in [
                ("root_folder_id", "only the root of My Drive is served"),
                ("team_drive", "shared drives are not served, only My Drive"),
                (
                    "service_account_file",
                    "service accounts are not served: authorise a user with a token",
                ),
            ] {
                if o.get(option).is_some() {
                    return Err(o.refuse_value(option, why));
                }
            }
            if o.get("scope").is_some_and(|s| s != "drive") {
                return Err(o.refuse_value(
                    "scope",
                    "only the full `drive` scope lets this server write and list every file",
                ));
            }
            if o.get("use_trash") == Some("false") {
                return Err(o.refuse_value(
                    "use_trash",
                    "deletes always go to the trash here, as rclone's default does",
                ));
            }
            refreshed(o, set)?;
            "gdrive"
        }
        "onedrive" => {
            o.only(&[
                "client_id",
                "client_secret",
                "token",
                "drive_id",
                "drive_type",
                "region",
                "chunk_size",
                "list_chunk",
                "no_versions",
            ])?;
            if o.get("region").is_some_and(|r| r != "global") {
                return Err(o.refuse_value(
                    "region",
                    "only the global Microsoft Graph endpoint is served",
                ));
            }
            if o.get("drive_type") == Some("documentLibrary") {
                return Err(o.refuse_value(
                    "drive_type",
                    "SharePoint document libraries are not served, only the user's own drive",
                ));
            }
            refreshed(o, set)?;
            "onedrive"
        }
        "dropbox" => {
            o.only(&[
                "client_id",
                "client_secret",
                "token",
                "impersonate",
                "shared_files",
                "shared_folders",
                "chunk_size",
                "batch_mode",
                "batch_size",
                "batch_timeout",
                "pacer_min_sleep",
            ])?;
            for option in ["impersonate", "shared_files", "shared_folders"] {
                if o.get(option).is_some_and(|v| v != "false") {
                    return Err(o.refuse_value(option, "only the user's own files are served"));
                }
            }
            refreshed(o, set)?;
            "dropbox"
        }
        "pcloud" => {
            o.only(&[
                "client_id",
                "client_secret",
                "token",
                "hostname",
                "username",
                "password",
                "root_folder_id",
            ])?;
            if o.get("root_folder_id").is_some_and(|r| r != "d0") {
                return Err(o.refuse_value("root_folder_id", "only the root folder is served"));
            }
            let user = o.get("username").ok_or_else(|| {
                o.refuse_value(
                    "username",
                    "missing: this server signs in to pCloud with the account's user name and \
                     password (rclone's `username` and `password` options), not its OAuth token",
                )
            })?;
            let password = o.secret("password")?.ok_or_else(|| {
                o.refuse_value("password", "missing: the account's password (obscured)")
            })?;
            set("username", user.to_string());
            set("password", password);
            set(
                "endpoint",
                format!("https://{}", o.get("hostname").unwrap_or("api.pcloud.com")),
            );
            "pcloud"
        }
        "koofr" => {
            o.only(&[
                "provider", "endpoint", "mountid", "setmtime", "user", "password",
            ])?;
            if o.get("mountid").is_some() {
                return Err(o.refuse_value("mountid", "only the primary mount is served"));
            }
            let endpoint = match (o.get("provider"), o.get("endpoint")) {
                (_, Some(e)) => super::with_scheme(e),
                (None | Some("koofr"), None) => "https://app.koofr.net".into(),
                (Some("digistorage"), None) => "https://storage.rcs-rds.ro".into(),
                (Some(_), None) => {
                    return Err(o.refuse_value("endpoint", "missing: the provider's address"))
                }
            };
            let user = o
                .get("user")
                .ok_or_else(|| o.refuse_value("user", "missing: the account's e-mail address"))?;
            let password = o.secret("password")?.ok_or_else(|| {
                o.refuse_value("password", "missing: an application password (obscured)")
            })?;
            set("endpoint", endpoint);
            set("email", user.to_string());
            set("password", password);
            "koofr"
        }
        "yandex" => {
            o.only(&[
                "client_id",
                "client_secret",
                "token",
                "hard_delete",
                "chunk_size",
            ])?;
            if o.get("hard_delete") == Some("true") {
                return Err(o.refuse_value(
                    "hard_delete",
                    "deletes go to the trash here, as rclone's default does",
                ));
            }
            let token = Token::read(o)?;
            if let Some(at) = token.expires() {
                if at <= OffsetDateTime::now_utc() {
                    return Err(o.refuse_value(
                        "token",
                        "expired: renew it with `rclone config reconnect`",
                    ));
                }
            }
            set("access_token", token.access_token);
            "yandex-disk"
        }
        "swift" => {
            for option in [
                "user",
                "key",
                "auth",
                "user_id",
                "application_credential_id",
            ] {
                if o.get(option).is_some() {
                    return Err(o.refuse_value(
                        option,
                        "this server does not sign in to Swift itself: give `storage_url` and \
                         `auth_token` (from `swift auth`) instead",
                    ));
                }
            }
            o.only(&[
                "env_auth",
                "storage_url",
                "auth_token",
                "chunk_size",
                "no_chunk",
                "no_large_objects",
                "leave_parts_on_error",
                "user",
                "key",
                "auth",
                "user_id",
                "application_credential_id",
            ])?;
            if o.flag("env_auth") {
                return Err(o.refuse_value(
                    "env_auth",
                    "credentials from the environment are not read: give `storage_url` and \
                     `auth_token`",
                ));
            }
            let url = o
                .get("storage_url")
                .ok_or_else(|| o.refuse_value("storage_url", "missing: the account's URL"))?;
            let token = o
                .get("auth_token")
                .ok_or_else(|| o.refuse_value("auth_token", "missing: a token for the account"))?;
            set("endpoint", url.trim_end_matches('/').to_string());
            set("token", token.to_string());
            "swift"
        }
        "b2" => {
            b2(o, set)?;
            "b2"
        }
        _ => return Ok(None),
    };
    Ok(Some(service))
}

/// Why a type rclone users often have is not served, where there is more to say than no.
pub(super) fn why_not(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "seafile" => {
            "the service can neither write a file atomically nor rename one, so an upload cut \
             off would leave a half-written object"
        }
        _ => return None,
    })
}

/// rclone's default name encoding for B2, the only set taken (in any order): names are stored
/// here as S3 clients give them, which is what rclone stores too for every name without the
/// characters it replaces (`\`, control characters, DEL).
const B2_ENCODING: &str = "Slash,BackSlash,Del,Ctl,InvalidUtf8,Dot";

/// Backblaze B2 through its native API: the application key, and the bucket from the path (its
/// id is looked up when the remote is opened). Deletes hide the file, keeping its older versions
/// as the bucket's lifecycle rules say, as rclone's default does.
fn b2(o: &Options<'_>, set: &mut dyn FnMut(&str, String)) -> Result<(), ConfigError> {
    o.only(&[
        "account",
        "key",
        "endpoint",
        "test_mode",
        "versions",
        "version_at",
        "hard_delete",
        "lifecycle",
        "download_url",
        "encoding",
        // How rclone cuts and sends its uploads: the object stored is the same.
        "upload_cutoff",
        "copy_cutoff",
        "chunk_size",
        "upload_concurrency",
        "memory_pool_flush_time",
        "memory_pool_use_mmap",
        // Only for the public links rclone makes, which this server does not.
        "download_auth_duration",
        // Large files written here carry no `large_file_sha1`, as with rclone's
        // `disable_checksum`; either way the bytes stored are the same.
        "disable_checksum",
    ])?;
    for (option, why) in [
        (
            "endpoint",
            "the B2 service used speaks to api.backblazeb2.com only",
        ),
        ("test_mode", "B2's test headers are not sent"),
        (
            "versions",
            "only the current version of each file is served",
        ),
        (
            "version_at",
            "only the current version of each file is served",
        ),
        (
            "download_url",
            "files are read from the download URL B2 gives at sign-in",
        ),
    ] {
        if o.get(option).is_some() {
            return Err(o.refuse_value(option, why));
        }
    }
    if o.flag("hard_delete") {
        return Err(o.refuse_value(
            "hard_delete",
            "deletes hide the file, keeping its older versions, as rclone's default does",
        ));
    }
    if o.get("lifecycle").is_some_and(|d| d != "0") {
        return Err(o.refuse_value(
            "lifecycle",
            "buckets are not created with lifecycle rules here",
        ));
    }
    let names = |e: &str| {
        let mut v: Vec<String> = e.split(',').map(|n| n.trim().to_string()).collect();
        v.sort();
        v
    };
    if o.get("encoding")
        .is_some_and(|e| names(e) != names(B2_ENCODING))
    {
        return Err(o.refuse_value("encoding", "only rclone's default encoding for B2 is taken"));
    }
    let account = o
        .get("account")
        .ok_or_else(|| o.refuse_value("account", "missing: the application key's id"))?;
    let key = o
        .get("key")
        .ok_or_else(|| o.refuse_value("key", "missing: the application key"))?;
    set("application_key_id", account.to_string());
    set("application_key", key.to_string());
    Ok(())
}

/// An OAuth drive served with a refreshed token: the section's refresh token and its own
/// OAuth client.
fn refreshed(o: &Options<'_>, set: &mut dyn FnMut(&str, String)) -> Result<(), ConfigError> {
    let token = Token::read(o)?;
    let refresh = token
        .refresh_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            o.refuse_value(
                "token",
                "it holds no refresh token: the access token alone stops working within the hour",
            )
        })?;
    let (Some(id), Some(secret)) = (o.get("client_id"), o.get("client_secret")) else {
        return Err(o.refuse_value(
            "client_id",
            "missing: the token was issued to rclone's own OAuth client, which no other program \
             may use to refresh it; register an OAuth client of your own with the service (as \
             rclone's documentation of this backend explains), set `client_id` and \
             `client_secret`, and run `rclone config reconnect` once",
        ));
    };
    set("refresh_token", refresh);
    set("client_id", id.to_string());
    set("client_secret", secret.to_string());
    Ok(())
}
