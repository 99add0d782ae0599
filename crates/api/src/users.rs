//! Accounts: admins, who may do everything, and viewers, who may watch the proxies granted to
//! them (`/api/v1/users`, admin only; `GET /api/v1/users/me` for everyone logged in).
//!
//! Each account has a login password (for the API and the web UI) and, apart from it, an
//! **output password**: what a person types into a player app, with the account name, to
//! load playlists, guides, HDHomeRun devices and the Xtream API (see the `access` module). It
//! is generated unless one is given, shown once (stored as an argon2 hash only), replaced by
//! `POST /api/v1/users/{id}/output-password` and revoked by `DELETE` of the same path.
//!
//! The last admin cannot be deleted or made a viewer: nobody could administer tvarr then.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tvarr_core::{FieldError, ProxyId, Role, User, UserInput};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Principal, hash_secret, random_bytes};
use crate::error::{ApiError, ApiResult, Problem};
use crate::pagination::{ListResponse, PageParams, Params};
use crate::proxies::{found, parse_ids};
use crate::state::AppState;

/// The longest account name, in characters.
pub const USERNAME_MAX_CHARS: usize = 100;
/// The shortest login or output password, in characters.
pub const PASSWORD_MIN_CHARS: usize = 8;
/// The longest login or output password, in bytes.
pub const PASSWORD_MAX_BYTES: usize = 256;
/// How many characters a generated output password has (letters and digits: about 143 bits).
const GENERATED_PASSWORD_CHARS: usize = 24;

/// An account as the API shows it (never a password or its hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: Uuid,
    /// Login name, also the name player apps log in with.
    pub username: String,
    /// `admin` or `viewer`.
    pub role: Role,
    /// The proxies a viewer may watch, in order; the first is the one the Xtream API at the
    /// root serves. An admin may watch every proxy.
    pub proxy_ids: Vec<ProxyId>,
    /// The most streams at once; absent: no limit of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_streams: Option<u32>,
    /// Whether an output password is set (it is shown only when made).
    pub has_output_password: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            has_output_password: u.output_password_hash.is_some(),
            username: u.username,
            role: u.role,
            proxy_ids: u.proxy_ids,
            max_streams: u.max_streams,
            created_at: u.created_at,
        }
    }
}

/// A new account, with its output password: the only time that is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUser {
    /// The output password, for player apps (with the account name).
    pub output_password: String,
    /// The stored account.
    #[serde(flatten)]
    pub user: UserView,
}

/// The body that creates an account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    /// Login name: 1 to 100 characters, no spaces, slashes or control characters.
    pub username: String,
    /// Login password, at least 8 characters.
    pub password: String,
    /// `admin` or `viewer`.
    pub role: Role,
    /// The proxies a viewer may watch, in order.
    #[serde(default)]
    pub proxy_ids: Vec<String>,
    /// The output password; generated when absent.
    #[serde(default)]
    pub output_password: Option<String>,
    /// The most streams at once (1 to 1000); absent or null: no limit of its own.
    #[serde(default)]
    pub max_streams: Option<u32>,
}

/// The body that replaces an account's settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    /// Login name.
    pub username: String,
    /// A new login password; absent: unchanged. Changing it ends the account's sessions.
    #[serde(default)]
    pub password: Option<String>,
    /// `admin` or `viewer`.
    pub role: Role,
    /// The proxies a viewer may watch, in order.
    #[serde(default)]
    pub proxy_ids: Vec<String>,
    /// The most streams at once; absent or null: no limit of its own.
    #[serde(default)]
    pub max_streams: Option<u32>,
}

/// The body that sets an output password (optional: without one, one is generated).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputPasswordBody {
    /// The output password to set; generated when absent.
    #[serde(default)]
    pub output_password: Option<String>,
}

/// A new output password: the only time it is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutputPassword {
    /// The output password.
    pub output_password: String,
}

/// Streams one account may be limited to, at most.
const MAX_STREAMS: std::ops::RangeInclusive<u32> = 1..=1000;

/// Whether `name` can be an account's name at all (at most [`USERNAME_MAX_CHARS`]
/// characters, no control characters): a login or output password check refuses any other
/// name at once, before it reaches the database (PostgreSQL refuses NUL in text).
pub(crate) fn plausible_username(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= USERNAME_MAX_CHARS
        && !name.chars().any(char::is_control)
}

fn check_username(name: &str, errors: &mut Vec<FieldError>) {
    if name.is_empty() || name.chars().count() > USERNAME_MAX_CHARS {
        errors.push(FieldError::new(
            "username",
            format!("must be 1 to {USERNAME_MAX_CHARS} characters"),
        ));
    } else if name
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '/')
    {
        errors.push(FieldError::new(
            "username",
            "must not hold spaces, slashes or control characters (player apps put it in URLs)",
        ));
    }
}

fn check_password(field: &str, password: &str, errors: &mut Vec<FieldError>) {
    if password.chars().count() < PASSWORD_MIN_CHARS {
        errors.push(FieldError::new(
            field,
            format!("must be at least {PASSWORD_MIN_CHARS} characters"),
        ));
    } else if password.len() > PASSWORD_MAX_BYTES {
        errors.push(FieldError::new(
            field,
            format!("must be at most {PASSWORD_MAX_BYTES} bytes"),
        ));
    } else if password.chars().any(char::is_control) {
        errors.push(FieldError::new(field, "must not hold control characters"));
    }
}

fn check_output_password(password: &str, errors: &mut Vec<FieldError>) {
    check_password("output_password", password, errors);
    if password.chars().any(|c| c.is_whitespace() || c == '/') {
        errors.push(FieldError::new(
            "output_password",
            "must not hold spaces or slashes (player apps put it in URLs)",
        ));
    }
}

/// A new output password: letters and digits from 32 random bytes.
fn generate_output_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    // 32 bytes give 24 characters with a bias below 1/2^24 per character (reduced modulo
    // 57 from 16 bits each).
    let bytes = random_bytes();
    let more = random_bytes();
    bytes
        .chunks(2)
        .chain(more.chunks(2))
        .take(GENERATED_PASSWORD_CHARS)
        .map(|pair| {
            let n = usize::from(u16::from_le_bytes([pair[0], pair[1]]));
            char::from(ALPHABET[n % ALPHABET.len()])
        })
        .collect()
}

/// The checked account settings of a body.
async fn user_input(
    state: &AppState,
    username: &str,
    role: Role,
    proxy_ids: &[String],
    max_streams: Option<u32>,
    errors: &mut Vec<FieldError>,
) -> ApiResult<UserInput> {
    let username = username.trim();
    check_username(username, errors);
    let ids: Vec<(String, ProxyId)> = parse_ids("proxy_ids", proxy_ids, errors);
    for (field, id) in &ids {
        if found(state.repos.proxies.get(*id).await)?.is_none() {
            errors.push(FieldError::new(field, format!("no proxy has id {id}")));
        }
    }
    if let Some(n) = max_streams
        && !MAX_STREAMS.contains(&n)
    {
        errors.push(FieldError::new(
            "max_streams",
            format!(
                "must be {} to {} (or null for no limit)",
                MAX_STREAMS.start(),
                MAX_STREAMS.end()
            ),
        ));
    }
    Ok(UserInput {
        username: username.to_owned(),
        role,
        proxy_ids: ids.into_iter().map(|(_, id)| id).collect(),
        max_streams,
    })
}

/// Refuses to leave tvarr without an admin: `user` is the last one and would stop being one.
async fn keep_an_admin(state: &AppState, user: &User, stays_admin: bool) -> ApiResult<()> {
    if user.role == Role::Admin
        && !stays_admin
        && state.repos.users.count_role(Role::Admin).await? <= 1
    {
        return Err(ApiError::Conflict(format!(
            "{} is the last admin; make another account admin first",
            user.username
        )));
    }
    Ok(())
}

/// Accounts by name.
#[utoipa::path(tag = "users", params(PageParams), responses((status = 200, body = ListResponse<UserView>)))]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    page: Params<PageParams>,
) -> ApiResult<web::Json<ListResponse<UserView>>> {
    let page = state.repos.users.list(page.request()?).await?;
    Ok(web::Json(ListResponse::from_page(page, UserView::from)))
}

/// Creates an account. The answer holds its output password, which is not shown again.
#[utoipa::path(tag = "users", request_body = NewUserBody, responses(
    (status = 201, body = CreatedUser),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "another account has this name"),
    (status = 422, body = Problem, content_type = "application/problem+json", description = "a field is invalid or names a proxy that does not exist")))]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    body: web::Json<NewUserBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let mut errors = Vec::new();
    let input = user_input(
        &state,
        &body.username,
        body.role,
        &body.proxy_ids,
        body.max_streams,
        &mut errors,
    )
    .await?;
    check_password("password", &body.password, &mut errors);
    if let Some(given) = &body.output_password {
        check_output_password(given, &mut errors);
    }
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    let output_password = body
        .output_password
        .unwrap_or_else(generate_output_password);
    let user = state
        .repos
        .users
        .create(
            &input,
            &hash_secret(&body.password)?,
            Some(&hash_secret(&output_password)?),
        )
        .await?;
    state.auth.outputs.forget();
    tracing::info!(user_id = %user.id, username = %user.username, role = user.role.as_str(), "account created");
    Ok(HttpResponse::Created().json(CreatedUser {
        output_password,
        user: user.into(),
    }))
}

/// The account of the request's session (an API key has none: 404).
#[utoipa::path(tag = "users", responses((status = 200, body = UserView), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/users/me")]
pub async fn me(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<web::Json<UserView>> {
    let principal = req.extensions().get::<Principal>().cloned();
    match principal {
        Some(Principal::User { id, .. }) => Ok(web::Json(state.repos.users.get(id).await?.into())),
        _ => Err(ApiError::NotFound(
            "this request is not made by a logged-in account (an API key, or access control \
             is off)"
                .into(),
        )),
    }
}

/// One account.
#[utoipa::path(tag = "users", params(("id" = Uuid, Path, description = "account id")), responses((status = 200, body = UserView), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<UserView>> {
    Ok(web::Json(
        state.repos.users.get(id.into_inner()).await?.into(),
    ))
}

/// Replaces an account's name, role, grants and stream limit, and its login password when
/// one is given (which ends its sessions). Its output password stays.
#[utoipa::path(tag = "users", params(("id" = Uuid, Path, description = "account id")), request_body = UserBody, responses(
    (status = 200, body = UserView), (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "another account has this name, or this is the last admin and would become a viewer"),
    (status = 422, body = Problem, content_type = "application/problem+json", description = "a field is invalid or names a proxy that does not exist")))]
#[put("/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: web::Json<UserBody>,
) -> ApiResult<web::Json<UserView>> {
    let id = id.into_inner();
    let current = state.repos.users.get(id).await?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    let input = user_input(
        &state,
        &body.username,
        body.role,
        &body.proxy_ids,
        body.max_streams,
        &mut errors,
    )
    .await?;
    if let Some(password) = &body.password {
        check_password("password", password, &mut errors);
    }
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    keep_an_admin(&state, &current, input.role == Role::Admin).await?;
    let user = state.repos.users.update(id, &input).await?;
    if let Some(password) = &body.password {
        state
            .repos
            .users
            .set_password_hash(id, &hash_secret(password)?)
            .await?;
    }
    state.auth.outputs.forget();
    Ok(web::Json(user.into()))
}

/// Deletes an account, its sessions and its output password.
#[utoipa::path(tag = "users", params(("id" = Uuid, Path, description = "account id")), responses(
    (status = 204), (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "this is the last admin")))]
#[delete("/users/{id}")]
pub async fn delete_user(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let user = state.repos.users.get(id).await?;
    keep_an_admin(&state, &user, false).await?;
    state.repos.users.delete(id).await?;
    state.auth.outputs.forget();
    tracing::info!(user_id = %id, username = %user.username, "account deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// Sets a new output password (the one given, else a generated one), shown this once; the
/// previous one stops working.
#[utoipa::path(tag = "users", params(("id" = Uuid, Path, description = "account id")), request_body(content = OutputPasswordBody, description = "optional"), responses(
    (status = 200, body = OutputPassword), (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json")))]
#[post("/users/{id}/output-password")]
pub async fn set_output_password(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Option<web::Json<OutputPasswordBody>>,
) -> ApiResult<web::Json<OutputPassword>> {
    let id = id.into_inner();
    let given = body.and_then(|b| b.into_inner().output_password);
    if let Some(given) = &given {
        let mut errors = Vec::new();
        check_output_password(given, &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::fields(errors));
        }
    }
    let output_password = given.unwrap_or_else(generate_output_password);
    state
        .repos
        .users
        .set_output_password_hash(id, Some(&hash_secret(&output_password)?))
        .await?;
    state.auth.outputs.forget();
    Ok(web::Json(OutputPassword { output_password }))
}

/// Revokes the output password: player apps using it are refused from now on.
#[utoipa::path(tag = "users", params(("id" = Uuid, Path, description = "account id")), responses(
    (status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[delete("/users/{id}/output-password")]
pub async fn revoke_output_password(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    state
        .repos
        .users
        .set_output_password_hash(id.into_inner(), None)
        .await?;
    state.auth.outputs.forget();
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_output_passwords_are_long_url_safe_and_differ() {
        let a = generate_output_password();
        let b = generate_output_password();
        assert_eq!(a.chars().count(), GENERATED_PASSWORD_CHARS);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
        let mut errors = Vec::new();
        check_output_password(&a, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn names_and_passwords_that_break_urls_are_refused() {
        let mut errors = Vec::new();
        check_username("ann/b", &mut errors);
        check_username("ann b", &mut errors);
        check_username("", &mut errors);
        check_output_password("pass word1", &mut errors);
        check_output_password("short", &mut errors);
        assert_eq!(errors.len(), 5, "{errors:?}");
        let mut fine = Vec::new();
        check_username("ann.b-c_d@home", &mut fine);
        check_output_password("correct-horse", &mut fine);
        assert!(fine.is_empty(), "{fine:?}");
    }
}
