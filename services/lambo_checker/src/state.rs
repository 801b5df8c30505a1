//! What the handlers share beyond the checker; startup builds it, routes read it.

use crate::grpc;

/// What `GET /api/v1/process_request_grpc` calls, and the port gRPC listens on.
pub struct GrpcBridge {
    /// `None` when gRPC is off and no other server is configured.
    pub client: Option<grpc::pb::api_client::ApiClient<tonic::transport::Channel>>,
    /// The port of this service's own gRPC server, if it runs one.
    pub port: Option<u16>,
}
