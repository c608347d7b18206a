//! Errors.

/// Why a conversion from the API facts failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("deployment {id:?} has no finish time (neither updatedAt nor createdAt)")]
    MissingFinishTime { id: String },
    #[error("pipeline run {id:?} has not finished")]
    NotFinished { id: String },
    #[error("incident has no name")]
    MissingName,
}

/// Why stored statuses could not be read back.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    #[error("invalid date {date:?} in DORA status: {reason}")]
    Date { date: String, reason: String },
    #[error("incident {0:?} in DORA status names no service")]
    IncidentWithoutService(String),
}
