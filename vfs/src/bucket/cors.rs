//! A bucket's CORS rules as its record keeps them. They are checked when they are set and
//! matched against requests by the S3 layer; here they are only data.

use serde::{Deserialize, Serialize};

/// One `<CORSRule>` of a bucket's CORS configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Origins a browser request may come from, each with at most one `*`.
    pub allowed_origins: Vec<String>,
    /// Methods the rule allows: `GET`, `HEAD`, `PUT`, `POST`, `DELETE`.
    pub allowed_methods: Vec<String>,
    /// Headers a preflight may ask for, each with at most one `*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_headers: Vec<String>,
    /// Response headers a browser lets the page read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// How long a browser may cache a preflight's answer, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<u32>,
}
