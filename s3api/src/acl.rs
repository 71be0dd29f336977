//! Owners, ACLs and ownership controls. A bucket's owner is the key that made it (its record
//! says which); a bucket made by other means is shown as belonging to whoever asks. ACLs come
//! as a canned name (`x-amz-acl`), as grant headers (`x-amz-grant-*`) or, to PutBucketAcl and
//! PutObjectAcl, as an `AccessControlPolicy` document: exactly one of these. Grantees are
//! checked against the keys this server knows before anything is stored. What a grant allows is
//! decided in `access.rs`.

use actix_web::HttpResponse;
use s3gate_vfs::{Acl, BucketRecord, Grant, Grantee, Group, ObjectOwnership, Permission};

use crate::auth::Keys;
use crate::ctx::Ctx;
use crate::error::{S3Error, S3Result};
use crate::intake::Lent;
use crate::xml::{self, escape, xml_ok, Xml};

/// An identity as S3 shows it: a canonical id, and a display name where the users file gives
/// one.
pub(crate) struct Identity {
    id: String,
    name: Option<String>,
}

impl Identity {
    /// The holder of `access_key`; anonymous when none.
    fn of(keys: &Keys, access_key: Option<&str>) -> Identity {
        let key = access_key.unwrap_or("anonymous");
        Identity {
            id: keys.canonical_id(key),
            name: keys.display_name(key),
        }
    }

    /// `<element><ID>…</ID><DisplayName>…</DisplayName></element>` (`Owner`, `Initiator`),
    /// without `DisplayName` when it has none.
    pub(crate) fn write(&self, x: &mut Xml, element: &'static str) {
        x.raw(&self.markup(element));
    }

    /// What [`Identity::write`] writes, made once for an answer that repeats it on every entry.
    pub(crate) fn markup(&self, element: &str) -> String {
        format!(
            "<{element}><ID>{}</ID>{}</{element}>",
            escape(&self.id),
            display_name(self.name.as_deref())
        )
    }
}

/// The caller's identity, found once per answer (a listing names it on every entry).
pub(crate) fn owner(ctx: &Ctx) -> Identity {
    match ctx.state.keys() {
        Ok(keys) => Identity::of(&keys, ctx.auth.access_key.as_deref()),
        Err(_) => Identity::of(&Keys::default(), ctx.auth.access_key.as_deref()),
    }
}

/// `<DisplayName>…</DisplayName>`, or nothing for a holder the users file does not name.
fn display_name(name: Option<&str>) -> String {
    name.map(|n| format!("<DisplayName>{}</DisplayName>", escape(n)))
        .unwrap_or_default()
}

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

fn group_uri(g: Group) -> &'static str {
    match g {
        Group::AllUsers => ALL_USERS,
        Group::AuthenticatedUsers => AUTHENTICATED_USERS,
        Group::LogDelivery => LOG_DELIVERY,
    }
}

const PERMISSIONS: [(Permission, &str, &str); 5] = [
    (Permission::Read, "READ", "x-amz-grant-read"),
    (Permission::Write, "WRITE", "x-amz-grant-write"),
    (Permission::ReadAcp, "READ_ACP", "x-amz-grant-read-acp"),
    (Permission::WriteAcp, "WRITE_ACP", "x-amz-grant-write-acp"),
    (
        Permission::FullControl,
        "FULL_CONTROL",
        "x-amz-grant-full-control",
    ),
];

fn permission_name(p: Permission) -> &'static str {
    PERMISSIONS
        .iter()
        .find(|(q, ..)| *q == p)
        .map_or("", |(_, name, _)| name)
}

/// What a request asks for, before it is checked against who the owners are.
enum Asked {
    Nothing,
    Canned(String),
    Grants(Vec<Grant>),
}

/// The grantee named by `id`, `uri` or `emailAddress` (a grant header's `type="value"`, or
/// a document's element), checked against what this server knows.
fn grantee(keys: &Keys, kind: &str, value: &str) -> S3Result<Grantee> {
    match kind {
        "id" | "ID" => match keys.knows_id(value) {
            true => Ok(Grantee::User(value.to_string())),
            false => Err(S3Error::invalid_argument("Invalid id")),
        },
        "emailAddress" | "EmailAddress" => match keys.id_of_email(value) {
            Some(id) => Ok(Grantee::User(id.to_string())),
            None => Err(S3Error::unresolvable_grant_by_email_address(
                "The e-mail address you provided does not match any account on record.",
            )),
        },
        "uri" | "URI" => match value {
            ALL_USERS => Ok(Grantee::Group(Group::AllUsers)),
            AUTHENTICATED_USERS => Ok(Grantee::Group(Group::AuthenticatedUsers)),
            LOG_DELIVERY => Ok(Grantee::Group(Group::LogDelivery)),
            _ => Err(S3Error::invalid_argument("Invalid group uri")),
        },
        _ => Err(S3Error::invalid_argument(format!(
            "Invalid grantee type {kind:?}"
        ))),
    }
}

/// `x-amz-acl` or `x-amz-grant-*`, never both.
fn from_headers(ctx: &Ctx, keys: &Keys) -> S3Result<Asked> {
    let mut grants = Vec::new();
    for (permission, _, name) in PERMISSIONS {
        for value in ctx.req.headers().get_all(name) {
            let value = value
                .to_str()
                .map_err(|_| S3Error::invalid_argument(format!("{name} is not text")))?;
            for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                let (kind, quoted) = item.split_once('=').ok_or_else(|| {
                    S3Error::invalid_argument(format!("Invalid grantee {item:?} in {name}"))
                })?;
                let v = quoted.trim().trim_matches('"');
                grants.push(Grant {
                    grantee: grantee(keys, kind.trim(), v)?,
                    permission,
                });
            }
        }
    }
    match (ctx.header("x-amz-acl").map(str::trim), grants.is_empty()) {
        (Some(_), false) => Err(S3Error::invalid_request(
            "Specifying both Canned ACLs and Header Grants is not allowed",
        )),
        (Some(c), true) => Ok(Asked::Canned(c.to_string())),
        (None, false) => Ok(Asked::Grants(grants)),
        (None, true) => Ok(Asked::Nothing),
    }
}

/// An `AccessControlPolicy` document's grants.
fn from_document(keys: &Keys, body: &[u8]) -> S3Result<Vec<Grant>> {
    let malformed = || {
        S3Error::malformed_acl(
            "The XML you provided was not well-formed or did not validate against our published schema",
        )
    };
    let doc = xml::parse(body, "AccessControlPolicy").map_err(|_| malformed())?;
    let list = doc.child("AccessControlList").ok_or_else(malformed)?;
    let mut grants = Vec::new();
    for g in list.all("Grant") {
        let who = g.child("Grantee").ok_or_else(malformed)?;
        let named = ["ID", "URI", "EmailAddress"]
            .into_iter()
            .find_map(|k| who.child(k).map(|n| (k, n.text.trim())))
            .ok_or_else(malformed)?;
        let text = g.child("Permission").ok_or_else(malformed)?.text.trim();
        let (permission, ..) = PERMISSIONS
            .iter()
            .find(|(_, name, _)| *name == text)
            .ok_or_else(malformed)?;
        grants.push(Grant {
            grantee: grantee(keys, named.0, named.1)?,
            permission: *permission,
        });
    }
    Ok(grants)
}

/// Who an ACL is for: the resource's owner, and for an object the bucket's.
struct Owners<'a> {
    owner: &'a str,
    bucket_owner: &'a str,
    object: bool,
}

/// The grants of a canned ACL (S3's table), for a bucket or an object.
fn canned(keys: &Keys, name: &str, o: &Owners) -> S3Result<Vec<Grant>> {
    let user = |key: &str, permission| Grant {
        grantee: Grantee::User(keys.canonical_id(key)),
        permission,
    };
    let group = |g, permission| Grant {
        grantee: Grantee::Group(g),
        permission,
    };
    let mut grants = vec![user(o.owner, Permission::FullControl)];
    match name {
        "private" => {}
        "public-read" => grants.push(group(Group::AllUsers, Permission::Read)),
        "public-read-write" => grants.extend([
            group(Group::AllUsers, Permission::Read),
            group(Group::AllUsers, Permission::Write),
        ]),
        "authenticated-read" => grants.push(group(Group::AuthenticatedUsers, Permission::Read)),
        "log-delivery-write" if !o.object => grants.extend([
            group(Group::LogDelivery, Permission::Write),
            group(Group::LogDelivery, Permission::ReadAcp),
        ]),
        "bucket-owner-read" if o.object => {
            if o.bucket_owner != o.owner {
                grants.push(user(o.bucket_owner, Permission::Read));
            }
        }
        "bucket-owner-full-control" if o.object => {
            if o.bucket_owner != o.owner {
                grants.push(user(o.bucket_owner, Permission::FullControl));
            }
        }
        _ => {
            return Err(S3Error::invalid_argument(format!(
                "Invalid canned ACL {name:?}"
            )))
        }
    }
    Ok(grants)
}

/// Whether grants give nothing but the owner's full control: all that a bucket whose objects
/// all belong to its owner (`BucketOwnerEnforced`) takes.
fn owners_only(bucket_owner_id: &str, grants: &[Grant]) -> bool {
    grants.iter().all(|g| {
        g.permission == Permission::FullControl
            && matches!(&g.grantee, Grantee::User(id) if id == bucket_owner_id)
    })
}

/// A public access block's `BlockPublicAcls`: an ACL granting anything to everyone or to every
/// signed request is refused where the bucket's block says so.
fn refuse_public(record: &BucketRecord, grants: &[Grant]) -> S3Result<()> {
    let blocked = record
        .public_access_block
        .is_some_and(|b| b.block_public_acls);
    match blocked && grants.iter().any(|g| g.grantee.is_public()) {
        true => Err(S3Error::access_denied("Access Denied")),
        false => Ok(()),
    }
}

fn not_supported() -> S3Error {
    S3Error::access_control_list_not_supported("The bucket does not allow ACLs")
}

fn enforced_bucket() -> S3Error {
    S3Error::invalid_bucket_acl_with_object_ownership(
        "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
    )
}

/// The access key a record names as owner ("" for none).
fn owner_key(record: &BucketRecord) -> &str {
    record.owner.as_deref().unwrap_or("")
}

/// The ACL and ownership controls a CreateBucket asks for (`x-amz-acl`, `x-amz-grant-*`,
/// `x-amz-object-ownership`), checked against each other as S3 checks them.
pub(crate) fn for_new_bucket(ctx: &Ctx) -> S3Result<(Option<Acl>, ObjectOwnership)> {
    let ownership = match ctx.header("x-amz-object-ownership") {
        None => ObjectOwnership::BucketOwnerEnforced,
        Some(v) => parse_ownership(v)?,
    };
    let keys = ctx.state.keys()?;
    let caller = ctx.auth.access_key.as_deref().unwrap_or("");
    let o = Owners {
        owner: caller,
        bucket_owner: caller,
        object: false,
    };
    let grants = match from_headers(ctx, &keys)? {
        Asked::Nothing => return Ok((None, ownership)),
        Asked::Canned(name) => canned(&keys, &name, &o)?,
        Asked::Grants(g) => g,
    };
    if ownership == ObjectOwnership::BucketOwnerEnforced
        && !owners_only(&keys.canonical_id(o.bucket_owner), &grants)
    {
        return Err(enforced_bucket());
    }
    let acl = Acl {
        owner: caller.to_string(),
        grants,
    };
    Ok((Some(acl), ownership))
}

/// The ACL of an object a request writes (PUT, copy, multipart upload, form upload), as its
/// bucket's ownership controls take it: under `BucketOwnerEnforced` only the owner's own full
/// control, and the object is the bucket owner's; else the writer's, or under
/// `BucketOwnerPreferred` the bucket owner's when written with `bucket-owner-full-control`.
/// `writer` is who writes it (a form's signer; `None`: anonymous), `canned_field` a form
/// upload's `acl` field; other requests carry their ACL in their headers.
pub(crate) async fn for_new_object(
    ctx: &Ctx,
    writer: Option<&str>,
    canned_field: Option<&str>,
) -> S3Result<Option<Acl>> {
    let record = ctx.bucket_record().await?;
    let keys = ctx.state.keys()?;
    let asked = match canned_field {
        Some(c) => Asked::Canned(c.to_string()),
        None => from_headers(ctx, &keys)?,
    };
    let bucket_owner = owner_key(record);
    let writer = writer.unwrap_or("");
    let owner = match (&record.ownership, &asked) {
        (ObjectOwnership::BucketOwnerEnforced, _) => bucket_owner,
        (ObjectOwnership::BucketOwnerPreferred, Asked::Canned(c))
            if c == "bucket-owner-full-control" =>
        {
            bucket_owner
        }
        _ => writer,
    };
    let o = Owners {
        owner,
        bucket_owner,
        object: true,
    };
    let grants = match asked {
        Asked::Nothing if owner == bucket_owner => return Ok(None),
        Asked::Nothing => canned(&keys, "private", &o)?,
        Asked::Canned(name) => canned(&keys, &name, &o)?,
        Asked::Grants(g) => g,
    };
    refuse_public(record, &grants)?;
    if record.ownership == ObjectOwnership::BucketOwnerEnforced {
        return match owners_only(&keys.canonical_id(o.bucket_owner), &grants) {
            true => Ok(None),
            false => Err(not_supported()),
        };
    }
    Ok(Some(Acl {
        owner: owner.to_string(),
        grants,
    }))
}

/// The grants a PutBucketAcl or PutObjectAcl asks for: from its headers or from its document,
/// exactly one of them.
async fn asked_to_put(ctx: &Ctx, payload: Lent, o: &Owners<'_>) -> S3Result<Vec<Grant>> {
    /// A policy document is a few grants: this is room enough for S3's hundred.
    const MAX_BODY: usize = 64 * 1024;
    let body = ctx.small_body(ctx.body(payload)?, MAX_BODY).await?;
    let keys = ctx.state.keys()?;
    let asked = from_headers(ctx, &keys)?;
    match (asked, body.iter().all(u8::is_ascii_whitespace)) {
        (Asked::Nothing, true) => Err(S3Error::missing_security_header(
            "Your request was missing a required header",
        )),
        (Asked::Nothing, false) => from_document(&keys, &body),
        (_, false) => Err(S3Error::unexpected_content(
            "This request does not support content",
        )),
        (Asked::Canned(name), true) => canned(&keys, &name, o),
        (Asked::Grants(g), true) => Ok(g),
    }
}

/// An ACL as S3 shows it: the owner, and each grant.
fn acl_response(keys: &Keys, owner: &Identity, grants: &[Grant]) -> HttpResponse {
    let mut x = Xml::document("AccessControlPolicy", true);
    owner.write(&mut x, "Owner");
    x.open("AccessControlList");
    for g in grants {
        x.open("Grant");
        match &g.grantee {
            Grantee::User(id) => x.raw(&format!(
                "<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>{}</ID>{}</Grantee>",
                escape(id),
                display_name(keys.name_of_id(id))
            )),
            Grantee::Group(group) => x.raw(&format!(
                "<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"Group\"><URI>{}</URI></Grantee>",
                group_uri(*group)
            )),
        };
        x.elem("Permission", permission_name(g.permission)).close();
    }
    xml_ok(x.finish())
}

/// An ACL's answer: its grants, or the owner's full control when it has none of its own.
fn answer(ctx: &Ctx, owner: Option<&str>, acl: Option<&Acl>) -> S3Result<HttpResponse> {
    let keys = ctx.state.keys()?;
    // A bucket made by other means is shown as the caller's.
    let owner = owner.or(ctx.auth.access_key.as_deref());
    let id = Identity::of(&keys, owner);
    let own = [Grant {
        grantee: Grantee::User(id.id.clone()),
        permission: Permission::FullControl,
    }];
    let grants = acl.map_or(&own[..], |a| &a.grants[..]);
    Ok(acl_response(&keys, &id, grants))
}

/// GetBucketAcl.
pub(crate) async fn bucket(ctx: &Ctx) -> S3Result<HttpResponse> {
    let record = ctx.bucket_record().await?;
    answer(ctx, record.owner.as_deref(), record.acl.as_ref())
}

/// PutBucketAcl: under `BucketOwnerEnforced` only the owner's own full control is taken.
pub(crate) async fn put_bucket(ctx: &Ctx, payload: Lent) -> S3Result<HttpResponse> {
    let record = ctx.bucket_record().await?;
    let owner = owner_key(record);
    let o = Owners {
        owner,
        bucket_owner: owner,
        object: false,
    };
    let grants = asked_to_put(ctx, payload, &o).await?;
    refuse_public(record, &grants)?;
    let only_owners = owners_only(&ctx.state.keys()?.canonical_id(owner), &grants);
    let acl = Acl {
        owner: owner.to_string(),
        grants,
    };
    let taken = ctx
        .vfs()
        .update_bucket(&ctx.bucket, |r| {
            let refused = r.ownership == ObjectOwnership::BucketOwnerEnforced && !only_owners;
            if !refused {
                r.acl = Some(acl.clone());
            }
            Ok(!refused)
        })
        .await?;
    match taken {
        true => Ok(HttpResponse::Ok().finish()),
        false => Err(not_supported()),
    }
}

/// The ACL of an object (of the version named); `NoSuchKey` (`NoSuchVersion`) when none.
async fn object_acl(ctx: &Ctx, version: Option<&str>) -> S3Result<Option<Acl>> {
    let info = match version {
        Some(v) => ctx.vfs().open_version(&ctx.bucket, &ctx.key, v).await?.info,
        None => ctx.vfs().head_object(&ctx.bucket, &ctx.key).await?,
    };
    Ok(info.attrs.acl)
}

/// GetObjectAcl. With ACLs disabled (`BucketOwnerEnforced`) every object is the bucket
/// owner's with full control, whatever ACL it kept from before, which grants nothing then.
pub(crate) async fn object(ctx: &Ctx, version: Option<&str>) -> S3Result<HttpResponse> {
    let acl = object_acl(ctx, version).await?;
    let record = ctx.bucket_record().await?;
    let acl = acl.filter(|_| record.ownership != ObjectOwnership::BucketOwnerEnforced);
    let owner = acl.as_ref().map_or(owner_key(record), |a| a.owner.as_str());
    answer(ctx, Some(owner).filter(|o| !o.is_empty()), acl.as_ref())
}

/// PutObjectAcl: under `BucketOwnerEnforced` only the owner's own full control is taken.
pub(crate) async fn put_object(
    ctx: &Ctx,
    version: Option<&str>,
    payload: Lent,
) -> S3Result<HttpResponse> {
    let current = object_acl(ctx, version).await?;
    let record = ctx.bucket_record().await?;
    let bucket_owner = owner_key(record);
    let owner = current.as_ref().map_or(bucket_owner, |a| a.owner.as_str());
    let o = Owners {
        owner,
        bucket_owner,
        object: true,
    };
    let grants = asked_to_put(ctx, payload, &o).await?;
    refuse_public(record, &grants)?;
    let acl = if record.ownership == ObjectOwnership::BucketOwnerEnforced {
        let keys = ctx.state.keys()?;
        if !owners_only(&keys.canonical_id(o.bucket_owner), &grants) {
            return Err(not_supported());
        }
        None
    } else {
        Some(Acl {
            owner: owner.to_string(),
            grants,
        })
    };
    ctx.vfs()
        .set_object_acl(&ctx.bucket, &ctx.key, version, acl)
        .await?;
    Ok(HttpResponse::Ok().finish())
}

fn parse_ownership(v: &str) -> S3Result<ObjectOwnership> {
    match v.trim() {
        "BucketOwnerEnforced" => Ok(ObjectOwnership::BucketOwnerEnforced),
        "BucketOwnerPreferred" => Ok(ObjectOwnership::BucketOwnerPreferred),
        "ObjectWriter" => Ok(ObjectOwnership::ObjectWriter),
        other => Err(S3Error::invalid_argument(format!(
            "Invalid x-amz-object-ownership header: {other}"
        ))),
    }
}

/// PutBucketOwnershipControls: one rule, its `ObjectOwnership`. A bucket whose ACL grants
/// anything but its owner's full control cannot be made `BucketOwnerEnforced`, as S3.
pub(crate) async fn put_ownership(ctx: &Ctx, payload: Lent) -> S3Result<HttpResponse> {
    let body = ctx.digested_body(payload)?;
    let doc = xml::parse(&ctx.small_body(body, 4096).await?, "OwnershipControls")?;
    let rules: Vec<_> = doc.all("Rule").collect();
    let [rule] = rules[..] else {
        return Err(xml::malformed("OwnershipControls takes exactly one Rule"));
    };
    let setting = rule
        .child("ObjectOwnership")
        .ok_or_else(|| xml::malformed("a Rule needs its ObjectOwnership"))?;
    let ownership =
        parse_ownership(&setting.text).map_err(|_| xml::malformed("unknown ObjectOwnership"))?;
    let owner_id = {
        let record = ctx.bucket_record().await?;
        ctx.state.keys()?.canonical_id(owner_key(record))
    };
    let taken = ctx
        .vfs()
        .update_bucket(&ctx.bucket, |r| {
            let acl_is_owners = r
                .acl
                .as_ref()
                .is_none_or(|a| owners_only(&owner_id, &a.grants));
            let refused = ownership == ObjectOwnership::BucketOwnerEnforced && !acl_is_owners;
            if !refused {
                r.ownership = ownership;
            }
            Ok(!refused)
        })
        .await?;
    match taken {
        true => Ok(HttpResponse::Ok().finish()),
        false => Err(enforced_bucket()),
    }
}

/// GetBucketOwnershipControls.
pub(crate) async fn get_ownership(ctx: &Ctx) -> S3Result<HttpResponse> {
    let name = match ctx.bucket_record().await?.ownership {
        ObjectOwnership::BucketOwnerEnforced => "BucketOwnerEnforced",
        ObjectOwnership::BucketOwnerPreferred => "BucketOwnerPreferred",
        ObjectOwnership::ObjectWriter => "ObjectWriter",
        ObjectOwnership::Removed => {
            return Err(S3Error::ownership_controls_not_found(
                "The bucket ownership controls were not found",
            ))
        }
    };
    let mut x = Xml::document("OwnershipControls", true);
    x.open("Rule").elem("ObjectOwnership", name).close();
    Ok(xml_ok(x.finish()))
}

/// DeleteBucketOwnershipControls: the bucket then behaves as `ObjectWriter`, as S3.
pub(crate) async fn delete_ownership(ctx: &Ctx) -> S3Result<HttpResponse> {
    ctx.vfs()
        .update_bucket(&ctx.bucket, |r| {
            r.ownership = ObjectOwnership::Removed;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
