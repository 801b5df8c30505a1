//! health_check
