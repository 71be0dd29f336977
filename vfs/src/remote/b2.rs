//! The id of a B2 bucket, which B2's native API wants with every upload while rclone's sections
//! (and paths) name the bucket only: looked up once, when the remote is opened, with the
//! application key (`b2_authorize_account`, then `b2_list_buckets` for that one name).

use std::io;

use serde::Deserialize;

const AUTHORIZE: &str = "https://api.backblazeb2.com/b2api/v2/b2_authorize_account";

/// What `b2_authorize_account` answers that the lookup needs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Authorized {
    account_id: String,
    authorization_token: String,
    api_url: String,
}

#[derive(Deserialize)]
struct Buckets {
    buckets: Vec<Bucket>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bucket {
    bucket_id: String,
    bucket_name: String,
}

fn failed(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("B2 {what}: {e}"))
}

/// The id of `bucket` in the account of the application key `key_id`/`key`.
///
/// Remotes are opened by synchronous code (within crypt remotes too), sometimes on a runtime's
/// only thread: the two requests run on a thread and runtime of their own.
pub(crate) fn bucket_id(key_id: &str, key: &str, bucket: &str) -> io::Result<String> {
    let (key_id, key, bucket) = (key_id.to_string(), key.to_string(), bucket.to_string());
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(look_up(&key_id, &key, &bucket))
    })
    .join()
    .map_err(|_| io::Error::other("B2 bucket lookup panicked"))?
}

async fn look_up(key_id: &str, key: &str, bucket: &str) -> io::Result<String> {
    let client = reqwest::Client::new();
    let auth = client
        .get(AUTHORIZE)
        .basic_auth(key_id, Some(key))
        .send()
        .await
        .map_err(|e| failed("sign-in", e))?;
    let auth: Authorized = parse("sign-in", answer("sign-in", auth).await?)?;
    let list = client
        .post(format!("{}/b2api/v2/b2_list_buckets", auth.api_url))
        .header("Authorization", &auth.authorization_token)
        .body(list_request(&auth.account_id, bucket))
        .send()
        .await
        .map_err(|e| failed("bucket list", e))?;
    find(
        parse("bucket list", answer("bucket list", list).await?)?,
        bucket,
    )
}

/// The body of a successful answer; B2's error document (`{"code", "message"}`) otherwise.
async fn answer(what: &str, resp: reqwest::Response) -> io::Result<bytes::Bytes> {
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| failed(what, e))?;
    if !status.is_success() {
        let kind = match status.as_u16() {
            401 | 403 => io::ErrorKind::PermissionDenied,
            _ => io::ErrorKind::Other,
        };
        return Err(io::Error::new(
            kind,
            format!("B2 {what}: {status}: {}", String::from_utf8_lossy(&body)),
        ));
    }
    Ok(body)
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, body: bytes::Bytes) -> io::Result<T> {
    serde_json::from_slice(&body).map_err(|e| failed(what, format!("unexpected answer: {e}")))
}

/// `b2_list_buckets` asked for one bucket by name (which a key restricted to that bucket may
/// also ask).
fn list_request(account_id: &str, bucket: &str) -> String {
    serde_json::json!({ "accountId": account_id, "bucketName": bucket }).to_string()
}

fn find(list: Buckets, bucket: &str) -> io::Result<String> {
    list.buckets
        .into_iter()
        .find(|b| b.bucket_name == bucket)
        .map(|b| b.bucket_id)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("B2: the account has no bucket named {bucket:?}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answers as B2's API documentation shows them.
    #[test]
    fn the_bucket_id_is_read_from_b2s_answers() {
        let auth: Authorized = parse(
            "sign-in",
            bytes::Bytes::from_static(
                br#"{
                  "absoluteMinimumPartSize": 5000000,
                  "accountId": "YOUR_ACCOUNT_ID",
                  "allowed": {
                    "bucketId": null, "bucketName": null,
                    "capabilities": ["listBuckets", "readFiles", "writeFiles"],
                    "namePrefix": null
                  },
                  "apiUrl": "https://apiNNN.backblazeb2.com",
                  "authorizationToken": "4_0022623512fc8f80000000001_0186e431_d18d02_acct_tH7VW03boebOXayIc43-sxptpfA=",
                  "downloadUrl": "https://f002.backblazeb2.com",
                  "recommendedPartSize": 100000000,
                  "s3ApiUrl": "https://s3.us-west-NNN.backblazeb2.com"
                }"#,
            ),
        )
        .unwrap();
        assert_eq!(auth.api_url, "https://apiNNN.backblazeb2.com");
        assert!(auth.authorization_token.starts_with("4_002"));
        let asked: serde_json::Value =
            serde_json::from_str(&list_request(&auth.account_id, "any-name-you-pick")).unwrap();
        assert_eq!(
            asked,
            serde_json::json!({"accountId": "YOUR_ACCOUNT_ID", "bucketName": "any-name-you-pick"})
        );
        let list = br#"{
          "buckets": [{
            "accountId": "30f20426f0b1",
            "bucketId": "4a48fe8875c6214145260818",
            "bucketInfo": {},
            "bucketName": "any-name-you-pick",
            "bucketType": "allPrivate",
            "corsRules": [],
            "lifecycleRules": [],
            "revision": 1
          }]
        }"#;
        let found = find(
            parse("bucket list", bytes::Bytes::from_static(list)).unwrap(),
            "any-name-you-pick",
        );
        assert_eq!(found.unwrap(), "4a48fe8875c6214145260818");
        let none = find(
            parse(
                "bucket list",
                bytes::Bytes::from_static(br#"{"buckets": []}"#),
            )
            .unwrap(),
            "gone",
        );
        assert_eq!(none.unwrap_err().kind(), io::ErrorKind::NotFound);
    }
}
