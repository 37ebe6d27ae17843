//! The HParams plugin's session summaries (`tensorboard/plugins/hparams/plugin_data.proto`):
//! a session start with the hyperparameters, a session end with the status. TensorBoard
//! takes every scalar of the run (and of its sub-directories, grouped by their names) as
//! the session's metrics, so nothing else is needed for its HParams table.

/// `HParamsPluginData`; version 0 is the only one TensorBoard reads.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PluginData {
    #[prost(int32, tag = "1")]
    pub version: i32,
    #[prost(oneof = "Data", tags = "3, 4")]
    pub data: Option<Data>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Data {
    #[prost(message, tag = "3")]
    SessionStartInfo(SessionStartInfo),
    #[prost(message, tag = "4")]
    SessionEndInfo(SessionEndInfo),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionStartInfo {
    #[prost(map = "string, message", tag = "1")]
    pub hparams: std::collections::HashMap<String, ProtoValue>,
    #[prost(string, tag = "4")]
    pub group_name: String,
    #[prost(double, tag = "5")]
    pub start_time_secs: f64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionEndInfo {
    /// `Status` of `api.proto`: 1 success, 2 failure, 3 running.
    #[prost(int32, tag = "1")]
    pub status: i32,
    #[prost(double, tag = "2")]
    pub end_time_secs: f64,
}

/// `google.protobuf.Value`, the kinds a hyperparameter takes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoValue {
    #[prost(oneof = "HParam", tags = "2, 3, 4")]
    pub kind: Option<HParam>,
}

/// A hyperparameter's value.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum HParam {
    #[prost(double, tag = "2")]
    Number(f64),
    #[prost(string, tag = "3")]
    Text(String),
    #[prost(bool, tag = "4")]
    Bool(bool),
}

/// How a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Success = 1,
    Failure = 2,
    Running = 3,
}

pub const SESSION_START_TAG: &str = "_hparams_/session_start_info";
pub const SESSION_END_TAG: &str = "_hparams_/session_end_info";
