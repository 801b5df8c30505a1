//! What the handlers share; startup builds it, routes read it, so neither imports the other.

use std::sync::Arc;

use common::auth::Authenticator;

use crate::checker::Checker;
use crate::grpc;
use crate::jobs::Jobs;

/// The state of one lambo_checker instance.
pub struct State {
    /// Answers questions (REST, gRPC, GraphQL, the page and the jobs share it).
    pub checker: Arc<Checker>,
    /// The analysis job queue.
    pub jobs: Jobs,
    /// What `GET /api/v1/process_request_grpc` calls.
    pub grpc: GrpcBridge,
    /// Who may call `/api/v1/restricted`.
    pub auth: Authenticator,
}

/// What `GET /api/v1/process_request_grpc` calls, and the port gRPC listens on.
pub struct GrpcBridge {
    /// `None` when gRPC is off and no other server is configured.
    pub client: Option<grpc::pb::api_client::ApiClient<tonic::transport::Channel>>,
    /// The port of this service's own gRPC server, if it runs one.
    pub port: Option<u16>,
}
