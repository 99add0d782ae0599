//! tvarr-core: the domain of tvarr, and nothing else.
//!
//! This crate owns the types every other tvarr crate speaks in (sources, channels, programmes,
//! filters, mapping rules, proxies, relay profiles, logos, jobs), their identifiers, the errors
//! a repository can return, the repository traits that storage implements, and the traits a
//! job's handler implements beside the work it does ([`JobHandler`], [`JobControl`]).
//!
//! It must not depend on any other tvarr crate, nor on an I/O, web or ORM framework: embedders
//! can use these types without pulling in a database driver or an HTTP server.
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod auth;
mod channel;
mod clock;
mod error;
mod id;
mod job;
mod job_handler;
pub mod limits;
mod lineup;
pub mod local_file;
mod logo;
mod net;
mod output;
mod programme;
mod proxy;
mod queue;
mod redact;
mod repository;
mod rule;
pub mod schedule;
mod secret;
mod source;

pub use auth::{
    ApiKey, ApiKeyRepository, LoginWindow, Role, Session, User, UserInput, UserRepository,
};
pub use channel::{Channel, ChannelData};
pub use clock::Clock;
pub use error::{FieldError, RepoError, RepoResult};
pub use id::{
    ChannelId, EpgSourceId, FilterId, JobId, LogoId, MappingRuleId, ProxyId, RelayProfileId,
    StreamSourceId,
};
pub use job::{Job, JobKind, JobProgress, JobStatus, NewJob};
pub use job_handler::{JobControl, JobError, JobHandler};
pub use lineup::{
    CHANGE_SAMPLE, ChangeList, ChangeReport, ChangedChannel, GenerationSummary, GuideMatch,
    HeldNumber, LineupChannel, LineupRepository, MatchMethod, StageReport,
};
pub use logo::{Logo, LogoRepository};
pub use net::{InvalidIpNetwork, IpNetwork};
pub use output::{OutputFiles, OutputKind, OutputStore, OutputWriter, PublishedOutput};
pub use programme::{
    Credit, EpgChannel, EpisodeNumber, LangText, Programme, ProgrammeData, Rating,
};
pub use proxy::{
    DEFAULT_EPG_DAYS_AHEAD, DEFAULT_EPG_DAYS_PAST, DEFAULT_MAX_REMOVED_PERCENT,
    DEFAULT_NUMBER_GRACE_DAYS, DEFAULT_TUNER_COUNT, GroupStart, Numbering, Proxy, ProxyInput,
    ProxyMode, RelayProfile, RelayProfileInput, VideoContainer,
};
pub use queue::JobQueue;
pub use redact::{REDACTED, is_secret_header, redact_text, redact_url};
pub use repository::{
    ChannelQuery, ChannelReplacement, ChannelRepository, EpgSourceRepository, FilterRepository,
    GuideReplacement, JobQuery, JobRepository, MappingRuleRepository, Page, PageRequest,
    ProgrammeBatch, ProgrammeQuery, ProgrammeRepository, ProxyRepository, RelayProfileRepository,
    Repositories, StreamSourceRepository,
};
pub use rule::{Domain, Filter, FilterAction, FilterInput, MappingRule, MappingRuleInput};
pub use secret::Secret;
pub use source::{
    EpgSource, EpgSourceInput, EpgSourceType, IngestOutcome, IngestState, StreamSource,
    StreamSourceInput, StreamSourceType,
};
