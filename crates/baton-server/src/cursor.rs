//! The opaque pagination cursor of `GET /runs`: the id of the last run of a page,
//! encoded so that clients treat it as a token and not as an id.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use baton_core::error::ErrorCode;
use baton_core::ids::RunId;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::truncate;

/// The version byte in front of the id, so the format can change without
/// misreading old cursors.
const CURSOR_VERSION: u8 = 1;

/// The cursor that continues a listing after `last` (the last run of a page).
pub(crate) fn encode_cursor(last: RunId) -> String {
    let mut bytes = Vec::with_capacity(17);
    bytes.push(CURSOR_VERSION);
    bytes.extend_from_slice(last.as_uuid().as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The run a cursor continues after; 400 `invalid_cursor` if this server did not issue it.
pub(crate) fn decode_cursor(cursor: &str) -> Result<RunId, ApiError> {
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidCursor,
            format!(
                "the cursor `{}` was not issued by this server: pass the `next_cursor` of a previous page unchanged, or leave `cursor` out for the first page",
                truncate(cursor, 64)
            ),
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    match bytes.split_first() {
        Some((&CURSOR_VERSION, id)) => {
            let uuid = Uuid::from_slice(id).map_err(|_| invalid())?;
            Ok(RunId::from_uuid(uuid))
        }
        _ => Err(invalid()),
    }
}
