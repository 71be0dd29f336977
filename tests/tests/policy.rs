//! Bucket policies and public access blocks: the document stored byte for byte, refused when
//! it says what this server cannot evaluate, and applied to every request after the caller's
//! own limits (an explicit Deny beats a user's rights; anonymous requests on a server with keys
//! get only what a policy grants everyone), with the conditions S3 evaluates.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::PublicAccessBlockConfiguration;
use aws_sdk_s3::Client;

use crate::common::*;

const USERS: &str = r#"
[[users]]
access_key = "ALICE"
secret_key = "alice-secret"
canonical_id = "a11ce"
buckets = ["*"]

[[users]]
access_key = "BOB"
secret_key = "bob-secret"
buckets = ["*"]
"#;

/// A server with an administrator's key and the users ALICE and BOB, who may use every bucket
/// (so that what a policy adds or takes away is all that is under test).
async fn server() -> TestServer {
    TestServer::start_with_users(USERS).await
}

fn alice(s: &TestServer) -> Client {
    client_for(s.addr, "ALICE", "alice-secret")
}

fn bob(s: &TestServer) -> Client {
    client_for(s.addr, "BOB", "bob-secret")
}

/// A policy of one or more statements (JSON objects, comma-separated).
fn policy(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

async fn put_policy(c: &Client, bucket: &str, text: &str) {
    c.put_bucket_policy()
        .bucket(bucket)
        .policy(text)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put policy: {}", describe(&e)));
}

/// The status of an anonymous (unsigned) request.
async fn anonymous(s: &TestServer, method: reqwest::Method, path: &str) -> u16 {
    anonymous_with(s, method, path, &[]).await
}

async fn anonymous_with(
    s: &TestServer,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
) -> u16 {
    let mut req = http().request(method, s.url(path));
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    req.send().await.unwrap().status().as_u16()
}

async fn get_status(c: &Client, bucket: &str, key: &str) -> u16 {
    match c.get_object().bucket(bucket).key(key).send().await {
        Ok(_) => 200,
        Err(e) => status_and_code(&e).0,
    }
}

const GET: reqwest::Method = reqwest::Method::GET;
const PUT: reqwest::Method = reqwest::Method::PUT;

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_comes_back_byte_for_byte_until_deleted() {
    let s = server().await;
    s.create_bucket("bkt").await;
    // Odd spacing, key order and escapes: what was sent is what comes back.
    let text = "{ \"Statement\" : [ {\"Resource\":\"arn:aws:s3:::bkt/*\",\n\t\"Action\":[\"s3:GetObject\"],\"Principal\":{\"AWS\":\"arn:aws:iam::000000000000:user/BOB\"},\"Effect\":\"Allow\",\"Sid\":\"caf\\u00e9 \u{e9}\"} ],\"Version\":\"2012-10-17\" }";
    put_policy(&s.client, "bkt", text).await;
    let got = s
        .client
        .get_bucket_policy()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(got.policy(), Some(text));
    s.client
        .delete_bucket_policy()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    expect_error(
        s.client.get_bucket_policy().bucket("bkt").send().await,
        404,
        "NoSuchBucketPolicy",
    );
    // Deleting what is not there is done too, as in S3.
    s.client
        .delete_bucket_policy()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    expect_error(
        s.client
            .put_bucket_policy()
            .bucket("nobkt")
            .policy(policy(
                r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::nobkt/*"}"#,
            ))
            .send()
            .await,
        404,
        "NoSuchBucket",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn what_cannot_be_evaluated_is_refused_as_malformed() {
    let s = server().await;
    s.create_bucket("bkt").await;
    let read = r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject""#;
    let cases = [
        (
            "not json".to_string(),
            "Policies must be valid JSON and the first byte must be '{'",
        ),
        (
            policy(
                r#"{"Effect":"Allow","NotPrincipal":{"AWS":"BOB"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}"#,
            ),
            "Policy has an unsupported field: NotPrincipal is not supported by this server",
        ),
        (
            policy(
                r#"{"Effect":"Allow","Principal":"*","NotAction":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}"#,
            ),
            "Policy has an unsupported field: NotAction is not supported by this server",
        ),
        (
            policy(&format!(r#"{{{read},"NotResource":"arn:aws:s3:::bkt/*"}}"#)),
            "Policy has an unsupported field: NotResource is not supported by this server",
        ),
        (
            policy(&format!(r#"{{{read},"Resource":"arn:aws:s3:::other/*"}}"#)),
            "Policy has invalid resource",
        ),
        (
            policy(
                r#"{"Effect":"Allow","Principal":"*","Action":"ec2:RunInstances","Resource":"arn:aws:s3:::bkt/*"}"#,
            ),
            "Policy has invalid action",
        ),
        (
            policy(&format!(
                r#"{{{read},"Resource":"arn:aws:s3:::bkt/*","Condition":{{"StringEqualsSometimes":{{"aws:Referer":"x"}}}}}}"#
            )),
            "Invalid Condition type : StringEqualsSometimes",
        ),
        (
            policy(&format!(
                r#"{{{read},"Resource":"arn:aws:s3:::bkt/*","Condition":{{"StringEquals":{{"aws:PrincipalOrgID":"o-1"}}}}}}"#
            )),
            "Policy has an invalid condition key",
        ),
        (
            policy(&format!(r#"{{{read},"Resource":"arn:aws:s3:::bkt"}}"#)),
            "Action does not apply to any resource(s) in statement",
        ),
        (
            r#"{"Version":"2012-10-17"}"#.to_string(),
            "Missing required field Statement",
        ),
    ];
    for (text, message) in cases {
        let e = s
            .client
            .put_bucket_policy()
            .bucket("bkt")
            .policy(&text)
            .send()
            .await
            .expect_err(&text);
        assert_eq!(
            status_and_code(&e),
            (400, "MalformedPolicy".into()),
            "{text}"
        );
        assert_eq!(e.message(), Some(message), "{text}");
    }
    // Past 20 KB (without its whitespace) a policy is too large.
    let many: Vec<String> = (0..200)
        .map(|i| {
            format!(
                r#"{{"Sid":"s{i}","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/some/long/prefix/{i}/*"}}"#
            )
        })
        .collect();
    expect_error(
        s.client
            .put_bucket_policy()
            .bucket("bkt")
            .policy(policy(&many.join(",")))
            .send()
            .await,
        400,
        "PolicyTooLarge",
    );
    // Nothing refused was stored.
    expect_error(
        s.client.get_bucket_policy().bucket("bkt").send().await,
        404,
        "NoSuchBucketPolicy",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_requests_get_what_a_public_policy_grants_and_nothing_else() {
    let s = server().await;
    s.create_bucket("site").await;
    s.put("site", "public/index.html", b"hello".to_vec()).await;
    s.put("site", "private/secret", b"no".to_vec()).await;
    // Keys are configured: without a policy, an unsigned request is refused.
    assert_eq!(anonymous(&s, GET, "/site/public/index.html").await, 403);
    put_policy(
        &s.client,
        "site",
        &policy(r#"{"Sid":"PublicRead","Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::site/public/*"}"#),
    )
    .await;
    let r = http()
        .get(s.url("/site/public/index.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"hello");
    // Only the prefix, only reads, never the bucket's listing or the server's.
    assert_eq!(anonymous(&s, GET, "/site/private/secret").await, 403);
    assert_eq!(anonymous(&s, PUT, "/site/public/new").await, 403);
    assert_eq!(anonymous(&s, GET, "/site?list-type=2").await, 403);
    assert_eq!(anonymous(&s, GET, "/").await, 403);
    assert_eq!(anonymous(&s, GET, "/site?policy").await, 403);
    // A bucket that is not there is said so, to anyone, as S3 does.
    assert_eq!(anonymous(&s, GET, "/other/public/index.html").await, 404);
    // Even a policy granting everything to everyone never lets an anonymous request read or
    // change the policy or the public access block.
    put_policy(
        &s.client,
        "site",
        &policy(r#"{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::site","arn:aws:s3:::site/*"]}"#),
    )
    .await;
    assert_eq!(anonymous(&s, GET, "/site?list-type=2").await, 200);
    assert_eq!(anonymous(&s, GET, "/site?policy").await, 403);
    assert_eq!(
        anonymous(&s, reqwest::Method::DELETE, "/site?policy").await,
        403
    );
    assert_eq!(anonymous(&s, GET, "/site?publicAccessBlock").await, 403);
    assert_eq!(
        anonymous(&s, reqwest::Method::DELETE, "/site?publicAccessBlock").await,
        403
    );
    s.client
        .get_bucket_policy()
        .bucket("site")
        .send()
        .await
        .unwrap();
    // A signature that does not match is still refused, policy or not.
    let forged = http()
        .get(s.url("/site/public/index.html"))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=ALICE/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_explicit_deny_beats_a_users_rights_but_not_an_administrators() {
    let s = server().await;
    s.create_bucket("bkt").await;
    s.put("bkt", "k", b"v".to_vec()).await;
    // ALICE by her ARN, BOB's reads of one prefix by access key.
    put_policy(
        &s.client,
        "bkt",
        &policy(
            r#"{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/ALICE"},"Action":"s3:GetObject*","Resource":"arn:aws:s3:::bkt/*"},
               {"Effect":"Deny","Principal":{"AWS":["BOB"]},"Action":["s3:PutObject"],"Resource":"arn:aws:s3:::bkt/locked/*"}"#,
        ),
    )
    .await;
    assert_eq!(get_status(&alice(&s), "bkt", "k").await, 403);
    assert_eq!(get_status(&bob(&s), "bkt", "k").await, 200);
    assert_eq!(get_status(&s.client, "bkt", "k").await, 200);
    // What is not denied stays as the user's key allows.
    alice(&s)
        .put_object()
        .bucket("bkt")
        .key("from-alice")
        .body(b"a".to_vec().into())
        .send()
        .await
        .unwrap();
    expect_error(
        bob(&s)
            .put_object()
            .bucket("bkt")
            .key("locked/x")
            .body(b"b".to_vec().into())
            .send()
            .await,
        403,
        "AccessDenied",
    );
    // A copy into the locked prefix is a write there too.
    expect_error(
        bob(&s)
            .copy_object()
            .bucket("bkt")
            .key("locked/y")
            .copy_source("bkt/k")
            .send()
            .await,
        403,
        "AccessDenied",
    );
    bob(&s)
        .put_object()
        .bucket("bkt")
        .key("open/x")
        .body(b"b".to_vec().into())
        .send()
        .await
        .unwrap();
    // A copy out of the bucket reads under its policy: ALICE may not read, so may not copy.
    s.create_bucket("dst").await;
    expect_error(
        alice(&s)
            .copy_object()
            .bucket("dst")
            .key("stolen")
            .copy_source("bkt/k")
            .send()
            .await,
        403,
        "AccessDenied",
    );
    // A user named by canonical id.
    put_policy(
        &s.client,
        "bkt",
        &policy(r#"{"Effect":"Deny","Principal":{"CanonicalUser":"a11ce"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt"}"#),
    )
    .await;
    expect_error(
        alice(&s).list_objects_v2().bucket("bkt").send().await,
        403,
        "AccessDenied",
    );
    assert_eq!(get_status(&alice(&s), "bkt", "k").await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_owner_can_always_read_change_and_delete_its_policy() {
    let s = server().await;
    let a = alice(&s);
    a.create_bucket().bucket("alices").send().await.unwrap();
    a.put_object()
        .bucket("alices")
        .key("k")
        .body(b"v".to_vec().into())
        .send()
        .await
        .unwrap();
    // A policy that denies everything to everyone, its own management included.
    let lockout = policy(
        r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::alices","arn:aws:s3:::alices/*"]}"#,
    );
    put_policy(&a, "alices", &lockout).await;
    assert_eq!(get_status(&a, "alices", "k").await, 403);
    expect_error(
        a.get_bucket_tagging().bucket("alices").send().await,
        403,
        "AccessDenied",
    );
    // BOB is not the owner: the policy is denied to him.
    expect_error(
        bob(&s).get_bucket_policy().bucket("alices").send().await,
        403,
        "AccessDenied",
    );
    let got = a.get_bucket_policy().bucket("alices").send().await.unwrap();
    assert_eq!(got.policy(), Some(lockout.as_str()));
    put_policy(&a, "alices", &lockout).await;
    a.delete_bucket_policy()
        .bucket("alices")
        .send()
        .await
        .unwrap();
    assert_eq!(get_status(&a, "alices", "k").await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn conditions_on_source_address_transport_prefix_and_headers() {
    let s = server().await;
    s.create_bucket("bkt").await;
    s.put("bkt", "docs/a", b"a".to_vec()).await;
    s.put("bkt", "img/b.png", b"b".to_vec()).await;
    let from = |cidr: &str| {
        policy(&format!(
            r#"{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*","Condition":{{"IpAddress":{{"aws:SourceIp":"{cidr}"}}}}}}"#
        ))
    };
    put_policy(&s.client, "bkt", &from("127.0.0.1/32")).await;
    assert_eq!(anonymous(&s, GET, "/bkt/docs/a").await, 200);
    put_policy(&s.client, "bkt", &from("10.0.0.0/8")).await;
    assert_eq!(anonymous(&s, GET, "/bkt/docs/a").await, 403);

    // Plain HTTP is not secure transport: a Deny on it refuses a user.
    put_policy(
        &s.client,
        "bkt",
        &policy(r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#),
    )
    .await;
    assert_eq!(get_status(&bob(&s), "bkt", "docs/a").await, 403);
    assert_eq!(get_status(&s.client, "bkt", "docs/a").await, 200);

    // Listing only under a prefix, with wildcards.
    put_policy(
        &s.client,
        "bkt",
        &policy(r#"{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt","Condition":{"StringLike":{"s3:prefix":["docs/*","im?/"]}}},
                   {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*.png"}"#),
    )
    .await;
    assert_eq!(
        anonymous(&s, GET, "/bkt?list-type=2&prefix=docs/").await,
        200
    );
    assert_eq!(
        anonymous(&s, GET, "/bkt?list-type=2&prefix=img/").await,
        200
    );
    assert_eq!(
        anonymous(&s, GET, "/bkt?list-type=2&prefix=secret/").await,
        403
    );
    assert_eq!(anonymous(&s, GET, "/bkt?list-type=2").await, 403);
    assert_eq!(anonymous(&s, GET, "/bkt/img/b.png").await, 200);
    assert_eq!(anonymous(&s, GET, "/bkt/docs/a").await, 403);

    // IfExists: no Referer passes, a wrong one does not.
    put_policy(
        &s.client,
        "bkt",
        &policy(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*","Condition":{"StringLikeIfExists":{"aws:Referer":"https://example.com/*"}}}"#),
    )
    .await;
    assert_eq!(anonymous(&s, GET, "/bkt/docs/a").await, 200);
    let referer = |r: &'static str| [("referer", r)];
    assert_eq!(
        anonymous_with(&s, GET, "/bkt/docs/a", &referer("https://example.com/page")).await,
        200
    );
    assert_eq!(
        anonymous_with(&s, GET, "/bkt/docs/a", &referer("https://evil.example/")).await,
        403
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn conditions_on_tags_and_null() {
    let s = server().await;
    s.create_bucket("bkt").await;
    // Null: a write without a team tag is denied to users.
    put_policy(
        &s.client,
        "bkt",
        &policy(r#"{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::bkt/*","Condition":{"Null":{"s3:RequestObjectTag/team":"true"}}},
                   {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/public":"yes"}}}"#),
    )
    .await;
    let b = bob(&s);
    expect_error(
        b.put_object()
            .bucket("bkt")
            .key("untagged")
            .body(b"x".to_vec().into())
            .send()
            .await,
        403,
        "AccessDenied",
    );
    b.put_object()
        .bucket("bkt")
        .key("shown")
        .tagging("team=web&public=yes")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    b.put_object()
        .bucket("bkt")
        .key("hidden")
        .tagging("team=web&public=no")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    // ExistingObjectTag: the object's own tags decide an anonymous read.
    assert_eq!(anonymous(&s, GET, "/bkt/shown").await, 200);
    assert_eq!(anonymous(&s, GET, "/bkt/hidden").await, 403);
    assert_eq!(anonymous(&s, GET, "/bkt/missing").await, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_status_and_the_public_access_block() {
    let s = server().await;
    s.create_bucket("bkt").await;
    s.put("bkt", "k", b"v".to_vec()).await;
    let is_public = || async {
        s.client
            .get_bucket_policy_status()
            .bucket("bkt")
            .send()
            .await
            .unwrap()
            .policy_status()
            .and_then(|p| p.is_public())
    };
    assert_eq!(is_public().await, Some(false));
    let public = policy(
        r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}"#,
    );
    let from_lan = policy(
        r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*","Condition":{"IpAddress":{"aws:SourceIp":"192.168.0.0/16"}}}"#,
    );
    put_policy(&s.client, "bkt", &public).await;
    assert_eq!(is_public().await, Some(true));
    put_policy(&s.client, "bkt", &from_lan).await;
    assert_eq!(is_public().await, Some(false));

    expect_error(
        s.client
            .get_public_access_block()
            .bucket("bkt")
            .send()
            .await,
        404,
        "NoSuchPublicAccessBlockConfiguration",
    );
    let block = |policy: bool, restrict: bool| {
        PublicAccessBlockConfiguration::builder()
            .block_public_acls(true)
            .ignore_public_acls(false)
            .block_public_policy(policy)
            .restrict_public_buckets(restrict)
            .build()
    };
    s.client
        .put_public_access_block()
        .bucket("bkt")
        .public_access_block_configuration(block(true, false))
        .send()
        .await
        .unwrap();
    let got = s
        .client
        .get_public_access_block()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    let got = got.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            got.block_public_acls(),
            got.ignore_public_acls(),
            got.block_public_policy(),
            got.restrict_public_buckets()
        ),
        (Some(true), Some(false), Some(true), Some(false))
    );
    // BlockPublicPolicy: a public policy is refused, a restricted one is not.
    expect_error(
        s.client
            .put_bucket_policy()
            .bucket("bkt")
            .policy(&public)
            .send()
            .await,
        403,
        "AccessDenied",
    );
    put_policy(&s.client, "bkt", &from_lan).await;

    // RestrictPublicBuckets: a public policy stored before grants anonymous requests nothing,
    // and the server's users still what it grants them.
    s.client
        .delete_public_access_block()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    put_policy(&s.client, "bkt", &public).await;
    assert_eq!(anonymous(&s, GET, "/bkt/k").await, 200);
    s.client
        .put_public_access_block()
        .bucket("bkt")
        .public_access_block_configuration(block(false, true))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous(&s, GET, "/bkt/k").await, 403);
    assert_eq!(get_status(&bob(&s), "bkt", "k").await, 200);
    s.client
        .delete_public_access_block()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous(&s, GET, "/bkt/k").await, 200);
    expect_error(
        s.client
            .get_public_access_block()
            .bucket("bkt")
            .send()
            .await,
        404,
        "NoSuchPublicAccessBlockConfiguration",
    );
}

/// A policy that lets anonymous requests delete versions does not let them bypass a GOVERNANCE
/// retention: only an administrator or the bucket's owner may.
#[tokio::test(flavor = "multi_thread")]
async fn a_public_policy_never_bypasses_governance_retention() {
    use aws_sdk_s3::primitives::DateTime;
    use aws_sdk_s3::types::ObjectLockMode;
    let s = server().await;
    s.client
        .create_bucket()
        .bucket("locked")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let until = std::time::SystemTime::now() + std::time::Duration::from_secs(86_400);
    let out = s
        .client
        .put_object()
        .bucket("locked")
        .key("k")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(DateTime::from(until))
        .body(b"v".to_vec().into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let version = out.version_id().unwrap().to_string();
    put_policy(
        &s.client,
        "locked",
        &policy(r#"{"Effect":"Allow","Principal":"*","Action":["s3:DeleteObjectVersion","s3:GetObjectVersion"],"Resource":"arn:aws:s3:::locked/*"}"#),
    )
    .await;
    let path = format!("/locked/k?versionId={version}");
    assert_eq!(anonymous(&s, GET, &path).await, 200);
    let bypass = [("x-amz-bypass-governance-retention", "true")];
    assert_eq!(
        anonymous_with(&s, reqwest::Method::DELETE, &path, &bypass).await,
        403
    );
    assert_eq!(anonymous(&s, GET, &path).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn conditions_on_versions_numbers_dates_and_user_agents() {
    let s = server().await;
    s.create_bucket("bkt").await;
    enable_versioning(&s.client, "bkt").await;
    s.put("bkt", "k", b"one".to_vec()).await;
    let v1 = s.head("bkt", "k").await.version_id().unwrap().to_string();
    s.put("bkt", "k", b"two".to_vec()).await;
    let v2 = s.head("bkt", "k").await.version_id().unwrap().to_string();
    put_policy(
        &s.client,
        "bkt",
        &policy(&format!(
            r#"{{"Effect":"Allow","Principal":"*","Action":"s3:GetObjectVersion","Resource":"arn:aws:s3:::bkt/*","Condition":{{"StringEquals":{{"s3:VersionId":"{v1}"}}}}}},
               {{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bkt","Condition":{{"NumericLessThanEquals":{{"s3:max-keys":10}}}}}},
               {{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*","Condition":{{"DateGreaterThan":{{"aws:CurrentTime":"2001-01-01T00:00:00Z"}},"StringLike":{{"aws:UserAgent":"curl/*"}}}}}}"#
        )),
    )
    .await;
    assert_eq!(
        anonymous(&s, GET, &format!("/bkt/k?versionId={v1}")).await,
        200
    );
    assert_eq!(
        anonymous(&s, GET, &format!("/bkt/k?versionId={v2}")).await,
        403
    );
    assert_eq!(anonymous(&s, GET, "/bkt?list-type=2&max-keys=5").await, 200);
    assert_eq!(
        anonymous(&s, GET, "/bkt?list-type=2&max-keys=50").await,
        403
    );
    assert_eq!(anonymous(&s, GET, "/bkt?list-type=2").await, 403);
    let agent = |a: &'static str| [("user-agent", a)];
    assert_eq!(
        anonymous_with(&s, GET, "/bkt/k", &agent("curl/8.5.0")).await,
        200
    );
    assert_eq!(
        anonymous_with(&s, GET, "/bkt/k", &agent("wget/1.21")).await,
        403
    );
    // A date in the past no longer grants anything.
    put_policy(
        &s.client,
        "bkt",
        &policy(r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*","Condition":{"DateLessThan":{"aws:CurrentTime":"2001-01-01T00:00:00Z"}}}"#),
    )
    .await;
    assert_eq!(anonymous(&s, GET, "/bkt/k").await, 403);
}

/// A browser form upload is a PutObject of its key under the bucket's policy too: an anonymous
/// form (no policy document) goes where an Allow to everyone lets it, and nowhere a Deny covers.
#[tokio::test(flavor = "multi_thread")]
async fn form_uploads_are_judged_by_the_bucket_policy() {
    use crate::post_object::{form, BOUNDARY};
    let s = server().await;
    s.create_bucket("inbox").await;
    put_policy(
        &s.client,
        "inbox",
        &policy(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::inbox/drop/*"},
               {"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::inbox/drop/locked/*"}"#,
        ),
    )
    .await;
    let upload = |key: &'static str| {
        http()
            .post(s.url("/inbox"))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(form(&[("key", key)], "f.txt", b"hello"))
            .send()
    };
    assert_eq!(upload("drop/a.txt").await.unwrap().status().as_u16(), 204);
    assert_eq!(s.get("inbox", "drop/a.txt").await, b"hello");
    assert_eq!(
        upload("elsewhere.txt").await.unwrap().status().as_u16(),
        403
    );
    assert_eq!(
        upload("drop/locked/x").await.unwrap().status().as_u16(),
        403
    );
    assert_eq!(s.list_keys("inbox").await, ["drop/a.txt"]);
}

/// A public access block's effect on ACLs: `IgnorePublicAcls` makes a grant to everyone grant
/// nothing; `BlockPublicAcls` refuses a write that asks for one.
#[tokio::test(flavor = "multi_thread")]
async fn the_public_access_block_ignores_and_blocks_public_acls() {
    use aws_sdk_s3::types::{
        ObjectCannedAcl, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
    };
    let s = server().await;
    s.create_bucket("acls").await;
    s.client
        .put_bucket_ownership_controls()
        .bucket("acls")
        .ownership_controls(
            OwnershipControls::builder()
                .rules(
                    OwnershipControlsRule::builder()
                        .object_ownership(ObjectOwnership::ObjectWriter)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    s.client
        .put_object()
        .bucket("acls")
        .key("shared")
        .acl(ObjectCannedAcl::PublicRead)
        .body(b"v".to_vec().into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(anonymous(&s, GET, "/acls/shared").await, 200);
    let block = |ignore: bool, block: bool| {
        PublicAccessBlockConfiguration::builder()
            .ignore_public_acls(ignore)
            .block_public_acls(block)
            .build()
    };
    s.client
        .put_public_access_block()
        .bucket("acls")
        .public_access_block_configuration(block(true, false))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous(&s, GET, "/acls/shared").await, 403);
    s.client
        .put_public_access_block()
        .bucket("acls")
        .public_access_block_configuration(block(false, true))
        .send()
        .await
        .unwrap();
    // The ACL already there counts again; a new public one is refused, a private one is not.
    assert_eq!(anonymous(&s, GET, "/acls/shared").await, 200);
    expect_error(
        s.client
            .put_object()
            .bucket("acls")
            .key("new")
            .acl(ObjectCannedAcl::PublicRead)
            .body(b"v".to_vec().into())
            .send()
            .await,
        403,
        "AccessDenied",
    );
    expect_error(
        s.client
            .put_object_acl()
            .bucket("acls")
            .key("shared")
            .acl(ObjectCannedAcl::AuthenticatedRead)
            .send()
            .await,
        403,
        "AccessDenied",
    );
    s.client
        .put_object_acl()
        .bucket("acls")
        .key("shared")
        .acl(ObjectCannedAcl::Private)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous(&s, GET, "/acls/shared").await, 403);
    s.assert_no_such_key("acls", "new").await;
}
