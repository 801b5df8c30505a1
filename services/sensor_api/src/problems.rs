//! The problems sensor_api answers with: its own codes, each mapped to its status and
//! type in one place, and its catalogue (what `/problems` lists), which adds the
//! shared groups it uses. A code not in the catalogue cannot be answered with.

use actix_web::http::StatusCode;
use common::Problem;
use common::problem::{self, ProblemType};

/// The problem codes only sensor_api answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    UnknownDevice,
    UnknownParameter,
    RowsRejected,
    UploadBroken,
}

impl Code {
    /// Every code, for the catalogue.
    pub const ALL: [Code; 4] = [
        Code::UnknownDevice,
        Code::UnknownParameter,
        Code::RowsRejected,
        Code::UploadBroken,
    ];

    /// The HTTP status of problems of this code.
    pub fn status(self) -> StatusCode {
        match self {
            Code::UnknownDevice => StatusCode::NOT_FOUND,
            Code::UnknownParameter => StatusCode::NOT_FOUND,
            Code::RowsRejected => StatusCode::UNPROCESSABLE_ENTITY,
            Code::UploadBroken => StatusCode::BAD_REQUEST,
        }
    }

    /// The code's type: what `/problems/<code>` describes.
    pub fn problem_type(self) -> ProblemType {
        match self {
            Code::UnknownDevice => ProblemType {
                code: "unknown_device",
                title: "No readings of this device are stored",
                description: "sensor_api knows no device of this name; `GET /api/v1/devices` lists the known ones.",
            },
            Code::UnknownParameter => ProblemType {
                code: "unknown_parameter",
                title: "The device has no such parameter",
                description: "The device has no readings of this parameter; `GET /api/v1/devices/{device}/parameters` \
                              lists its parameters.",
            },
            Code::RowsRejected => ProblemType {
                code: "rows_rejected",
                title: "Bad rows, so nothing was stored",
                description: "In strict mode an upload with any bad row stores nothing; the body lists each bad row with its \
                              position and reason. Without strict mode the good rows are stored and the bad ones reported.",
            },
            Code::UploadBroken => ProblemType {
                code: "upload_broken",
                title: "The upload broke off",
                description: "The request body ended or failed before it was complete; nothing was stored. Send it again: \
                              ingest is idempotent.",
            },
        }
    }

    /// A problem of this code.
    pub fn problem(self, detail: impl Into<String>) -> Problem {
        Problem::new(self.status(), self.problem_type().code, detail)
    }
}

/// Everything sensor_api may answer with: the shared groups it uses, then its own codes.
pub fn catalogue() -> Vec<ProblemType> {
    let own: Vec<ProblemType> = Code::ALL.iter().map(|c| c.problem_type()).collect();
    problem::catalogue(&[problem::FRAME, problem::RATE_LIMITED, problem::CALLERS, &own])
}
