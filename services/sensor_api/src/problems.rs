//! The problems sensor_api answers with: its own codes, each mapped to its status and
//! type in one place, and its catalogue (what `/problems` lists), which adds the
//! shared groups it uses. A code not in the catalogue cannot be answered with.

use common::problem::{self, ProblemType};

common::problem_codes! {
    /// The problem codes only sensor_api answers with.
    pub enum Code {
        UnknownDevice => (
            "unknown_device",
            NOT_FOUND,
            "No readings of this device are stored",
            "sensor_api knows no device of this name; `GET /api/v1/devices` lists the known ones.",
        ),
        UnknownParameter => (
            "unknown_parameter",
            NOT_FOUND,
            "The device has no such parameter",
            "The device has no readings of this parameter; `GET /api/v1/devices/{device}/parameters` \
                lists its parameters.",
        ),
        RowsRejected => (
            "rows_rejected",
            UNPROCESSABLE_ENTITY,
            "Bad rows, so nothing was stored",
            "In strict mode an upload with any bad row stores nothing; the body lists each bad row with its \
                position and reason. Without strict mode the good rows are stored and the bad ones reported.",
        ),
        UploadBroken => (
            "upload_broken",
            BAD_REQUEST,
            "The upload broke off",
            "The request body ended or failed before it was complete; nothing was stored. Send it again: \
                ingest is idempotent.",
        ),
    }
}

/// Everything sensor_api may answer with: the shared groups it uses, then its own codes.
pub fn catalogue() -> Vec<ProblemType> {
    problem::catalogue(&[
        problem::FRAME,
        problem::RATE_LIMITED,
        problem::CALLERS,
        &Code::types(),
    ])
}
