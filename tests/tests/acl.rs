//! ACLs, ownership controls and the permission decision: two users and anonymous callers
//! against buckets and objects with each kind of ACL, the ACL documents and headers round
//! trip, and the errors S3 answers.

use aws_sdk_s3::types::{
    AccessControlPolicy, BucketCannedAcl, Grant, Grantee, ObjectCannedAcl, ObjectOwnership,
    OwnershipControls, OwnershipControlsRule, Permission, Type,
};
use aws_sdk_s3::Client;

use crate::common::*;

const USERS: &str = r#"
[[users]]
access_key = "ALICE"
secret_key = "alice-secret"
display_name = "Alice"
canonical_id = "a11ce"
email = "alice@example.com"

[[users]]
access_key = "BOB"
secret_key = "bob-secret"
display_name = "Bob"
canonical_id = "b0b"
"#;

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";

struct Setup {
    s: TestServer,
    alice: Client,
    bob: Client,
}

async fn setup() -> Setup {
    let s = TestServer::start_with_users(USERS).await;
    let alice = client_for(s.addr, "ALICE", "alice-secret");
    let bob = client_for(s.addr, "BOB", "bob-secret");
    Setup { s, alice, bob }
}

/// A bucket of Alice's whose ACLs are honoured (ObjectWriter), holding `k`.
async fn acl_bucket(
    alice: &Client,
    bucket: &str,
    canned: Option<BucketCannedAcl>,
    grant: Option<&str>,
) {
    let mut create = alice
        .create_bucket()
        .bucket(bucket)
        .object_ownership(ObjectOwnership::ObjectWriter)
        .set_acl(canned.clone());
    let mut put = alice
        .put_object()
        .bucket(bucket)
        .key("k")
        .body(b"data".to_vec().into());
    if let Some(g) = grant {
        create = create.grant_read(g).grant_read_acp(g);
        put = put.grant_read(g);
    }
    if let Some(c) = canned {
        put = put.acl(ObjectCannedAcl::from(c.as_str()));
    }
    create.send().await.unwrap();
    put.send().await.unwrap();
}

#[derive(Clone, Copy, Debug)]
enum Who {
    Owner,
    Other,
    Anonymous,
}

#[derive(Clone, Copy, Debug)]
enum Act {
    List,
    Get,
    Put,
    GetAcl,
}

/// Does the caller get a 2xx (true) or a 403 AccessDenied (false)? Anything else fails.
async fn allowed(s: &Setup, who: Who, act: Act, bucket: &str) -> bool {
    let client = match who {
        Who::Owner => &s.alice,
        Who::Other => &s.bob,
        Who::Anonymous => {
            let http = http();
            let url = match act {
                Act::List => s.s.url(&format!("/{bucket}?list-type=2")),
                Act::Get => s.s.url(&format!("/{bucket}/k")),
                Act::Put => s.s.url(&format!("/{bucket}/anon")),
                Act::GetAcl => s.s.url(&format!("/{bucket}?acl")),
            };
            let req = match act {
                Act::Put => http.put(url).body("x"),
                _ => http.get(url),
            };
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            assert!(
                status == 200 || (status == 403 && text.contains("AccessDenied")),
                "{status} {text}"
            );
            return status == 200;
        }
    };
    let result = match act {
        Act::List => outcome(client.list_objects_v2().bucket(bucket).send().await),
        Act::Get => outcome(client.get_object().bucket(bucket).key("k").send().await),
        Act::Put => outcome(
            client
                .put_object()
                .bucket(bucket)
                .key(format!("{who:?}"))
                .body(b"x".to_vec().into())
                .send()
                .await,
        ),
        Act::GetAcl => outcome(client.get_bucket_acl().bucket(bucket).send().await),
    };
    match result {
        Ok(()) => true,
        Err(e) => {
            assert_eq!(
                e,
                (403, "AccessDenied".to_string()),
                "{who:?} {act:?} {bucket}"
            );
            false
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_permission_matrix() {
    let s = setup().await;
    acl_bucket(&s.alice, "private", Some(BucketCannedAcl::Private), None).await;
    acl_bucket(
        &s.alice,
        "public-read",
        Some(BucketCannedAcl::PublicRead),
        None,
    )
    .await;
    acl_bucket(
        &s.alice,
        "public-rw",
        Some(BucketCannedAcl::PublicReadWrite),
        None,
    )
    .await;
    acl_bucket(&s.alice, "granted", None, Some("id=b0b")).await;
    use Act::*;
    use Who::*;
    // (bucket, caller, [list, get, put, get ACL])
    let matrix = [
        ("private", Owner, [true, true, true, true]),
        ("private", Other, [false, false, false, false]),
        ("private", Anonymous, [false, false, false, false]),
        ("public-read", Owner, [true, true, true, true]),
        ("public-read", Other, [true, true, false, false]),
        ("public-read", Anonymous, [true, true, false, false]),
        ("public-rw", Owner, [true, true, true, true]),
        ("public-rw", Other, [true, true, true, false]),
        ("public-rw", Anonymous, [true, true, true, false]),
        ("granted", Owner, [true, true, true, true]),
        ("granted", Other, [true, true, false, true]),
        ("granted", Anonymous, [false, false, false, false]),
    ];
    for (bucket, who, expected) in matrix {
        for (act, want) in [List, Get, Put, GetAcl].into_iter().zip(expected) {
            assert_eq!(
                allowed(&s, who, act, bucket).await,
                want,
                "{who:?} {act:?} on {bucket}"
            );
        }
    }
    // An administrator reaches everything; anonymous lists no buckets at all.
    s.s.client
        .get_object()
        .bucket("private")
        .key("k")
        .send()
        .await
        .unwrap();
    let resp = http().get(s.s.url("/")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    // Bob lists only what he owns: nothing yet.
    let mine = s.bob.list_buckets().send().await.unwrap();
    assert!(mine.buckets().is_empty());
    // A missing object: NoSuchKey to whoever may list the bucket, AccessDenied to the others.
    expect_error(
        s.bob
            .get_object()
            .bucket("public-read")
            .key("nope")
            .send()
            .await,
        404,
        "NoSuchKey",
    );
    expect_error(
        s.bob
            .get_object()
            .bucket("private")
            .key("nope")
            .send()
            .await,
        403,
        "AccessDenied",
    );
}

/// A bucket's policy in the crossed matrix: none, or one statement to everyone over
/// GetObject and PutObject of its objects.
#[derive(Clone, Copy, Debug)]
enum Policy {
    Silent,
    Allow,
    Deny,
}

/// A bucket's ACLs in the crossed matrix (the bucket's for writes, its object `k`'s for reads).
#[derive(Clone, Copy, Debug)]
enum Acls {
    Private,
    PublicRead,
    /// READ of `k` and WRITE of the bucket granted to Bob.
    GrantOther,
    /// Made with `k` public-read and granted to Bob, then turned to `BucketOwnerEnforced`,
    /// which disables ACLs: what `k`'s ACL kept grants nothing.
    Enforced,
}

/// Alice's bucket `name` with the ACLs and the policy asked for, holding `k`.
async fn crossed_bucket(alice: &Client, name: &str, acls: Acls, policy: Policy) {
    let create = alice
        .create_bucket()
        .bucket(name)
        .object_ownership(ObjectOwnership::ObjectWriter);
    let put = alice
        .put_object()
        .bucket(name)
        .key("k")
        .body(b"data".to_vec().into());
    let (create, put) = match acls {
        Acls::Private => (create, put),
        Acls::PublicRead => (
            create.acl(BucketCannedAcl::PublicRead),
            put.acl(ObjectCannedAcl::PublicRead),
        ),
        Acls::GrantOther => (create.grant_write("id=b0b"), put.grant_read("id=b0b")),
        Acls::Enforced => (create, put.grant_read(format!("uri={ALL_USERS},id=b0b"))),
    };
    create.send().await.unwrap();
    put.send()
        .await
        .unwrap_or_else(|e| panic!("{name}: {}", describe(&e)));
    if let Acls::Enforced = acls {
        alice
            .put_bucket_ownership_controls()
            .bucket(name)
            .ownership_controls(
                OwnershipControls::builder()
                    .rules(
                        OwnershipControlsRule::builder()
                            .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let effect = match policy {
        Policy::Silent => return,
        Policy::Allow => "Allow",
        Policy::Deny => "Deny",
    };
    alice
        .put_bucket_policy()
        .bucket(name)
        .policy(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"{effect}","Principal":"*","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::{name}/*"}},{{"Effect":"{effect}","Principal":"*","Action":["s3:ListBucket","s3:GetBucketAcl"],"Resource":"arn:aws:s3:::{name}"}}]}}"#
        ))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{name}: {}", describe(&e)));
}

/// Bucket policy × ACL in one table, as S3 evaluates them: an explicit Deny refuses everyone
/// (the owner too; only administrators' keys stand above a policy), an Allow from either the
/// policy or an ACL allows, else only the owner may; with ACLs disabled (`BucketOwnerEnforced`)
/// an object's ACL grants nothing.
#[tokio::test(flavor = "multi_thread")]
async fn bucket_policies_and_acls_crossed() {
    use Acls::*;
    use Policy::*;
    let s = setup().await;
    // Per (policy, ACLs): what the owner, another user and anonymous may do, each as
    // [GetObject, PutObject, ListObjectsV2, GetBucketAcl]: reading and writing objects, listing
    // the bucket, and reading its permissions.
    const ALL: [bool; 4] = [true; 4];
    const NONE: [bool; 4] = [false; 4];
    let table = [
        (Silent, Private, [ALL, NONE, NONE]),
        // The bucket's READ lists it; READ_ACP is not granted.
        (
            Silent,
            PublicRead,
            [ALL, [true, false, true, false], [true, false, true, false]],
        ),
        // Bob may read `k` and write the bucket, which lets him neither list it nor read its ACL.
        (Silent, GrantOther, [ALL, [true, true, false, false], NONE]),
        (Silent, Enforced, [ALL, NONE, NONE]),
        (Allow, Private, [ALL; 3]),
        (Allow, PublicRead, [ALL; 3]),
        (Allow, GrantOther, [ALL; 3]),
        (Allow, Enforced, [ALL; 3]),
        (Deny, Private, [NONE; 3]),
        (Deny, PublicRead, [NONE; 3]),
        (Deny, GrantOther, [NONE; 3]),
        (Deny, Enforced, [NONE; 3]),
    ];
    let acts = [Act::Get, Act::Put, Act::List, Act::GetAcl];
    for (policy, acls, expected) in table {
        let name = format!("{policy:?}-{acls:?}").to_ascii_lowercase();
        crossed_bucket(&s.alice, &name, acls, policy).await;
        for (who, want) in [Who::Owner, Who::Other, Who::Anonymous]
            .into_iter()
            .zip(expected)
        {
            for (act, want) in acts.into_iter().zip(want) {
                assert_eq!(
                    allowed(&s, who, act, &name).await,
                    want,
                    "{who:?} {act:?} under {policy:?} × {acls:?}"
                );
            }
        }
    }
    // Administrators' keys stand above every policy.
    s.s.get("deny-private", "k").await;
    // With ACLs disabled, the object's ACL reads as what holds: its bucket owner's full control.
    let acl = s
        .alice
        .get_object_acl()
        .bucket("silent-enforced")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(grants_of(acl.grants()), pairs(&[("a11ce", "FULL_CONTROL")]));
}

fn grants_of(out: &[Grant]) -> Vec<(String, String)> {
    let mut v: Vec<_> = out
        .iter()
        .map(|g| {
            let who = g.grantee().unwrap();
            let name = who.id().or(who.uri()).unwrap_or("").to_string();
            (name, g.permission().unwrap().as_str().to_string())
        })
        .collect();
    v.sort();
    v
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<_> = p
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn canned_acls_and_grant_documents_round_trip() {
    let s = setup().await;
    acl_bucket(&s.alice, "bkt", None, None).await;
    for (canned, expected) in [
        (
            ObjectCannedAcl::PublicRead,
            vec![("a11ce", "FULL_CONTROL"), (ALL_USERS, "READ")],
        ),
        (
            ObjectCannedAcl::AuthenticatedRead,
            vec![
                ("a11ce", "FULL_CONTROL"),
                (
                    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
                    "READ",
                ),
            ],
        ),
        (ObjectCannedAcl::Private, vec![("a11ce", "FULL_CONTROL")]),
    ] {
        s.alice
            .put_object_acl()
            .bucket("bkt")
            .key("k")
            .acl(canned.clone())
            .send()
            .await
            .unwrap();
        let got = s
            .alice
            .get_object_acl()
            .bucket("bkt")
            .key("k")
            .send()
            .await
            .unwrap();
        assert_eq!(grants_of(got.grants()), pairs(&expected), "{canned:?}");
        assert_eq!(got.owner().unwrap().id(), Some("a11ce"));
    }
    // Bob writes into a public bucket: the object is his, and bucket-owner-full-control gives
    // Alice full control of it too.
    s.alice
        .put_bucket_acl()
        .bucket("bkt")
        .acl(BucketCannedAcl::PublicReadWrite)
        .send()
        .await
        .unwrap();
    s.bob
        .put_object()
        .bucket("bkt")
        .key("bobs")
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let got = s
        .bob
        .get_object_acl()
        .bucket("bkt")
        .key("bobs")
        .send()
        .await
        .unwrap();
    assert_eq!(got.owner().unwrap().id(), Some("b0b"));
    assert_eq!(
        grants_of(got.grants()),
        pairs(&[("b0b", "FULL_CONTROL"), ("a11ce", "FULL_CONTROL")])
    );

    // A document: by id, by e-mail (shown as its id afterwards), by group.
    let grant =
        |grantee: Grantee, p: Permission| Grant::builder().grantee(grantee).permission(p).build();
    let by_id = Grantee::builder()
        .r#type(Type::CanonicalUser)
        .id("b0b")
        .build()
        .unwrap();
    let by_email = Grantee::builder()
        .r#type(Type::AmazonCustomerByEmail)
        .email_address("alice@example.com")
        .build()
        .unwrap();
    let group = |uri: &str| {
        Grantee::builder()
            .r#type(Type::Group)
            .uri(uri)
            .build()
            .unwrap()
    };
    let owner = aws_sdk_s3::types::Owner::builder().id("a11ce").build();
    let policy = AccessControlPolicy::builder()
        .owner(owner.clone())
        .grants(grant(by_email, Permission::FullControl))
        .grants(grant(by_id.clone(), Permission::Read))
        .grants(grant(by_id, Permission::WriteAcp))
        .grants(grant(group(ALL_USERS), Permission::Read))
        .grants(grant(
            group("http://acs.amazonaws.com/groups/s3/LogDelivery"),
            Permission::Write,
        ))
        .build();
    s.alice
        .put_bucket_acl()
        .bucket("bkt")
        .access_control_policy(policy)
        .send()
        .await
        .unwrap();
    let got = s.bob.get_bucket_acl().bucket("bkt").send().await;
    // Bob holds READ and WRITE_ACP, not READ_ACP: he may change the ACL but not read it.
    assert_eq!(status_and_code(&got.unwrap_err()).1, "AccessDenied");
    let got = s.alice.get_bucket_acl().bucket("bkt").send().await.unwrap();
    assert_eq!(
        grants_of(got.grants()),
        pairs(&[
            ("a11ce", "FULL_CONTROL"),
            ("b0b", "READ"),
            ("b0b", "WRITE_ACP"),
            (ALL_USERS, "READ"),
            ("http://acs.amazonaws.com/groups/s3/LogDelivery", "WRITE"),
        ])
    );
    let bob_named = got
        .grants()
        .iter()
        .find_map(|g| g.grantee().filter(|w| w.id() == Some("b0b")))
        .unwrap();
    assert_eq!(bob_named.display_name(), Some("Bob"));
    s.bob
        .put_bucket_acl()
        .bucket("bkt")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    let anon = http()
        .get(s.s.url("/bkt?list-type=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status().as_u16(), 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn acl_errors_and_ownership_controls() {
    let s = setup().await;
    // S3's default: ACLs disabled, only the owner's own full control taken.
    s.alice
        .create_bucket()
        .bucket("enforced")
        .send()
        .await
        .unwrap();
    let got = s
        .alice
        .get_bucket_ownership_controls()
        .bucket("enforced")
        .send()
        .await
        .unwrap();
    let rule = &got.ownership_controls().unwrap().rules()[0];
    assert_eq!(
        rule.object_ownership(),
        &ObjectOwnership::BucketOwnerEnforced
    );
    expect_error(
        s.alice
            .put_object()
            .bucket("enforced")
            .key("k")
            .acl(ObjectCannedAcl::PublicRead)
            .body(b"x".to_vec().into())
            .send()
            .await,
        400,
        "AccessControlListNotSupported",
    );
    expect_error(
        s.alice
            .put_bucket_acl()
            .bucket("enforced")
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await,
        400,
        "AccessControlListNotSupported",
    );
    s.alice
        .put_bucket_acl()
        .bucket("enforced")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    expect_error(
        s.alice
            .create_bucket()
            .bucket("public")
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await,
        400,
        "InvalidBucketAclWithObjectOwnership",
    );

    // Changing the controls; a public bucket cannot go back to enforced; deleting them.
    let controls = |o: ObjectOwnership| {
        OwnershipControls::builder()
            .rules(
                OwnershipControlsRule::builder()
                    .object_ownership(o)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    s.alice
        .put_bucket_ownership_controls()
        .bucket("enforced")
        .ownership_controls(controls(ObjectOwnership::BucketOwnerPreferred))
        .send()
        .await
        .unwrap();
    s.alice
        .put_bucket_acl()
        .bucket("enforced")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    expect_error(
        s.alice
            .put_bucket_ownership_controls()
            .bucket("enforced")
            .ownership_controls(controls(ObjectOwnership::BucketOwnerEnforced))
            .send()
            .await,
        400,
        "InvalidBucketAclWithObjectOwnership",
    );
    expect_error(
        s.bob
            .put_bucket_ownership_controls()
            .bucket("enforced")
            .ownership_controls(controls(ObjectOwnership::ObjectWriter))
            .send()
            .await,
        403,
        "AccessDenied",
    );
    s.alice
        .delete_bucket_ownership_controls()
        .bucket("enforced")
        .send()
        .await
        .unwrap();
    expect_error(
        s.alice
            .get_bucket_ownership_controls()
            .bucket("enforced")
            .send()
            .await,
        404,
        "OwnershipControlsNotFoundError",
    );

    // Grantees this server does not know, and one way of giving an ACL at a time.
    acl_bucket(&s.alice, "bkt", None, None).await;
    let e = s
        .alice
        .put_object_acl()
        .bucket("bkt")
        .key("k")
        .grant_read("id=nobody")
        .send()
        .await;
    expect_error(e, 400, "InvalidArgument");
    let e = s
        .alice
        .put_object_acl()
        .bucket("bkt")
        .key("k")
        .grant_read("emailAddress=\"who@example.com\"")
        .send()
        .await;
    expect_error(e, 400, "UnresolvableGrantByEmailAddress");
    let e = s
        .alice
        .put_object_acl()
        .bucket("bkt")
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .grant_read("id=b0b")
        .send()
        .await;
    expect_error(e, 400, "InvalidRequest");
    let both = s
        .alice
        .put_bucket_acl()
        .bucket("bkt")
        .acl(BucketCannedAcl::Private)
        .access_control_policy(
            AccessControlPolicy::builder()
                .owner(aws_sdk_s3::types::Owner::builder().id("a11ce").build())
                .build(),
        )
        .send()
        .await;
    expect_error(both, 400, "UnexpectedContent");
    let neither = s.alice.put_bucket_acl().bucket("bkt").send().await;
    assert_eq!(
        status_and_code(&neither.unwrap_err()).1,
        "MissingSecurityHeader"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_acl_belongs_to_its_version() {
    let s = setup().await;
    acl_bucket(&s.alice, "ver", None, None).await;
    enable_versioning(&s.alice, "ver").await;
    let put = |body: &'static [u8]| {
        s.alice
            .put_object()
            .bucket("ver")
            .key("k")
            .body(body.to_vec().into())
            .send()
    };
    let first = put(b"one").await.unwrap().version_id().unwrap().to_string();
    put(b"two").await.unwrap();
    s.alice
        .put_object_acl()
        .bucket("ver")
        .key("k")
        .version_id(&first)
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let old = s
        .alice
        .get_object_acl()
        .bucket("ver")
        .key("k")
        .version_id(&first)
        .send()
        .await
        .unwrap();
    assert!(grants_of(old.grants()).contains(&(ALL_USERS.into(), "READ".into())));
    let current = s
        .alice
        .get_object_acl()
        .bucket("ver")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(
        grants_of(current.grants()),
        pairs(&[("a11ce", "FULL_CONTROL")])
    );
    let anon = |q: String| async move { http().get(q).send().await.unwrap().status().as_u16() };
    assert_eq!(
        anon(s.s.url(&format!("/ver/k?versionId={first}"))).await,
        200
    );
    assert_eq!(anon(s.s.url("/ver/k")).await, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_form_uploads_reach_public_read_write_buckets_only() {
    use crate::post_object::{form, BOUNDARY};
    let s = setup().await;
    acl_bucket(
        &s.alice,
        "open",
        Some(BucketCannedAcl::PublicReadWrite),
        None,
    )
    .await;
    acl_bucket(&s.alice, "closed", Some(BucketCannedAcl::PublicRead), None).await;
    let post = |bucket: &'static str| {
        http()
            .post(s.s.url(&format!("/{bucket}")))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(form(&[("key", "up/${filename}")], "f.txt", b"hello"))
            .send()
    };
    assert_eq!(post("open").await.unwrap().status().as_u16(), 204);
    let refused = post("closed").await.unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    assert!(refused.text().await.unwrap().contains("AccessDenied"));
    // Stored where the form said; nothing in the bucket that refused it.
    let got =
        s.s.client
            .get_object()
            .bucket("open")
            .key("up/f.txt")
            .send()
            .await
            .unwrap();
    assert_eq!(body_of(got).await, b"hello");
    s.s.assert_no_such_key("closed", "up/f.txt").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn copies_and_multipart_uploads_take_the_acl_they_ask_for() {
    let s = setup().await;
    acl_bucket(&s.alice, "src", Some(BucketCannedAcl::Private), None).await;
    let anon_status = |key: &str| {
        let url = s.s.url(&format!("/src/{key}"));
        async move { http().get(url).send().await.unwrap().status().as_u16() }
    };
    s.alice
        .put_object_acl()
        .bucket("src")
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    assert_eq!(anon_status("k").await, 200);
    // A copy never takes its source's ACL: private unless it asks.
    s.alice
        .copy_object()
        .bucket("src")
        .key("plain-copy")
        .copy_source("src/k")
        .send()
        .await
        .unwrap();
    assert_eq!(anon_status("plain-copy").await, 403);
    s.alice
        .copy_object()
        .bucket("src")
        .key("public-copy")
        .copy_source("src/k")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    assert_eq!(anon_status("public-copy").await, 200);
    // A multipart upload's ACL is given to the object at Complete.
    let up = s
        .alice
        .create_multipart_upload()
        .bucket("src")
        .key("mp")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let part = s
        .alice
        .upload_part()
        .bucket("src")
        .key("mp")
        .upload_id(id)
        .part_number(1)
        .body(b"parts".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(anon_status("mp").await, 403);
    complete_upload(
        &s.alice,
        "src",
        "mp",
        id,
        numbered_parts(&[part.e_tag().unwrap()]),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(anon_status("mp").await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn bucket_owner_preferred_gives_the_bucket_owner_what_is_written_for_it() {
    let s = setup().await;
    s.alice
        .create_bucket()
        .bucket("pref")
        .object_ownership(ObjectOwnership::BucketOwnerPreferred)
        .grant_write("id=b0b")
        .send()
        .await
        .unwrap();
    let put = |key: &'static str, acl: Option<ObjectCannedAcl>| {
        s.bob
            .put_object()
            .bucket("pref")
            .key(key)
            .set_acl(acl)
            .body(b"x".to_vec().into())
            .send()
    };
    put("given", Some(ObjectCannedAcl::BucketOwnerFullControl))
        .await
        .unwrap();
    put("kept", None).await.unwrap();
    let alice = &s.alice;
    let owner = |key: &'static str| async move {
        let acl = alice.get_object_acl().bucket("pref").key(key).send().await;
        acl.map(|a| a.owner().unwrap().id().unwrap().to_string())
            .map_err(|e| status_and_code(&e))
    };
    assert_eq!(owner("given").await, Ok("a11ce".to_string()));
    // Written without it, the object stays its writer's: not even its bucket's owner reads it.
    assert_eq!(owner("kept").await, Err((403, "AccessDenied".to_string())));
    let bobs = s
        .bob
        .get_object_acl()
        .bucket("pref")
        .key("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(bobs.owner().unwrap().id(), Some("b0b"));
}
