//! The protocol handlers: startup (trust or MD5 password), simple and extended queries,
//! cancel. Statements run on tokio's blocking threads; the async side only moves bytes.

use crate::ServerOptions;
use crate::encode;
use crate::errors::{to_pg, user_error};
use crate::params::{Template, literal};
use async_trait::async_trait;
use futures::{Sink, stream};
use pgwire::api::auth::md5pass::{Md5PasswordAuthStartupHandler, hash_md5_password};
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    DescribePortalResponse, DescribeResponse, DescribeStatementResponse, FieldInfo, QueryResponse,
    Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, ConnectionManager, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::response::TransactionStatus;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use sqlparser::ast::Statement;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use strata_sql::exec::Cancel;
use strata_sql::{Engine, Output, SqlError};

/// What the server hands `pgwire` for every connection.
pub struct Handlers {
    backend: Arc<Backend>,
    startup: Arc<Startup>,
    cancel: Arc<DefaultCancelHandler>,
}

impl Handlers {
    /// Handlers serving `engine`.
    pub fn new(engine: Engine, opts: ServerOptions) -> Handlers {
        let manager = Arc::new(ConnectionManager::new());
        let mut params = DefaultServerParameterProvider::default();
        params.server_version = format!("16.0 (Strata {})", env!("CARGO_PKG_VERSION"));
        let md5 = opts.password.map(|p| {
            Md5PasswordAuthStartupHandler::new(Arc::new(Secret(p)), Arc::new(params))
                .with_connection_manager(manager.clone())
        });
        Handlers {
            backend: Arc::new(Backend {
                engine,
                parser: Arc::new(Parser),
            }),
            startup: Arc::new(Startup {
                md5,
                trust: Trust {
                    manager: manager.clone(),
                },
            }),
            cancel: Arc::new(DefaultCancelHandler::new(manager)),
        }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.backend.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.backend.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        self.cancel.clone()
    }
}

/// The password every client gives (any user name), checked by MD5 challenge.
#[derive(Debug)]
struct Secret(String);

#[async_trait]
impl AuthSource for Secret {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        // A fresh salt per login: RandomState's keys come from the OS's random source.
        let salt = (std::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            std::time::SystemTime::now(),
        ) as u32)
            .to_le_bytes();
        let user = login.user().unwrap_or_default();
        let hash = hash_md5_password(user, &self.0, &salt);
        Ok(Password::new(Some(salt.to_vec()), hash.into_bytes()))
    }
}

/// Startup: a password check when the server has one, else trust.
struct Startup {
    md5: Option<Md5PasswordAuthStartupHandler<Secret, DefaultServerParameterProvider>>,
    trust: Trust,
}

/// Startup without a password (registers the connection for cancel requests).
struct Trust {
    manager: Arc<ConnectionManager>,
}

impl NoopStartupHandler for Trust {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(self.manager.clone())
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match &self.md5 {
            Some(h) => h.on_startup(client, message).await,
            None => self.trust.on_startup(client, message).await,
        }
    }
}

/// Per connection: whether the open transaction has changed anything (then ROLLBACK
/// cannot keep its promise and says so).
#[derive(Default)]
struct Session {
    changed: AtomicBool,
}

/// Runs statements on the engine.
pub struct Backend {
    engine: Engine,
    parser: Arc<Parser>,
}

/// Sets the cancel flag when dropped armed: pgwire drops the query's future on a cancel
/// request, and tokio drops it when the client goes away.
struct CancelOnDrop(Option<Cancel>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            c.cancel();
        }
    }
}

/// Statements answered by the server itself, not the engine.
enum Control {
    Begin,
    Commit,
    Rollback,
    Set,
    Show(String),
    Discard,
    Deallocate,
}

fn control(stmt: &Statement) -> Option<Control> {
    Some(match stmt {
        Statement::StartTransaction { .. } => Control::Begin,
        Statement::Commit { .. } => Control::Commit,
        Statement::Rollback { .. } => Control::Rollback,
        Statement::Set(_) => Control::Set,
        Statement::ShowVariable { variable } => Control::Show(
            variable
                .iter()
                .map(|i| i.value.to_ascii_lowercase())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Statement::Discard { .. } => Control::Discard,
        Statement::Deallocate { .. } => Control::Deallocate,
        _ => return None,
    })
}

/// The value `SHOW name` answers.
fn setting(name: &str) -> Option<String> {
    Some(match name {
        "server_version" => format!("16.0 (Strata {})", env!("CARGO_PKG_VERSION")),
        "server_encoding" | "client_encoding" => "UTF8".into(),
        "standard_conforming_strings" | "integer_datetimes" => "on".into(),
        "datestyle" => "ISO, MDY".into(),
        "timezone" => "UTC".into(),
        "intervalstyle" => "postgres".into(),
        "transaction_isolation" | "default_transaction_isolation" => "read committed".into(),
        "transaction_read_only" => "off".into(),
        "search_path" => "public".into(),
        "max_identifier_length" => "63".into(),
        _ => return None,
    })
}

/// One TEXT column `name` holding `values`.
fn text_rows(name: &str, values: Vec<String>, format: &Format) -> Response {
    let fields = Arc::new(vec![FieldInfo::new(
        name.into(),
        None,
        None,
        Type::TEXT,
        format.format_for(0),
    )]);
    let f = fields.clone();
    let rows = values.into_iter().map(move |v| {
        let mut enc = pgwire::api::results::DataRowEncoder::new(f.clone());
        enc.encode_field(&v)?;
        Ok(enc.take_row())
    });
    Response::Query(QueryResponse::new(fields, stream::iter(rows)))
}

impl Backend {
    /// Runs `stmt` on a blocking thread with a cancel flag of its own.
    async fn execute(&self, stmt: Statement) -> Result<Output, SqlError> {
        let cancel = Cancel::default();
        let mut armed = CancelOnDrop(Some(cancel.clone()));
        let mut engine = self.engine.clone();
        engine.exec.cancel = cancel;
        let r = tokio::task::spawn_blocking(move || engine.execute_statement(stmt)).await;
        armed.0 = None;
        r.map_err(|e| SqlError::Internal(format!("the statement's thread failed: {e}")))?
    }

    /// Answers one statement: a control statement here, the rest by the engine.
    async fn one<C>(&self, client: &C, stmt: Statement, format: &Format) -> PgWireResult<Response>
    where
        C: ClientInfo,
    {
        let session = client
            .session_extensions()
            .get_or_insert_with(Session::default);
        let status = client.transaction_status();
        let in_transaction = !matches!(status, TransactionStatus::Idle);
        let control = control(&stmt);
        if matches!(status, TransactionStatus::Error)
            && !matches!(control, Some(Control::Rollback | Control::Commit))
        {
            return Err(user_error(
                "25P02",
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        if let Some(c) = control {
            return Ok(match c {
                Control::Begin => {
                    session.changed.store(false, Ordering::Relaxed);
                    Response::TransactionStart(Tag::new("BEGIN"))
                }
                // COMMIT of a failed transaction is a ROLLBACK, as in PostgreSQL.
                Control::Commit if matches!(status, TransactionStatus::Error) => {
                    rollback(&session)?
                }
                Control::Commit => {
                    session.changed.store(false, Ordering::Relaxed);
                    Response::TransactionEnd(Tag::new("COMMIT"))
                }
                Control::Rollback => rollback(&session)?,
                Control::Set => Response::Execution(Tag::new("SET")),
                Control::Discard => Response::Execution(Tag::new("DISCARD ALL")),
                Control::Deallocate => Response::Execution(Tag::new("DEALLOCATE")),
                Control::Show(name) => match setting(&name) {
                    Some(v) => text_rows(&name, vec![v], format),
                    None => {
                        return Err(user_error(
                            "42704",
                            format!("unrecognized configuration parameter \"{name}\""),
                        ));
                    }
                },
            });
        }
        let copy = matches!(stmt, Statement::Copy { .. });
        let explain = matches!(stmt, Statement::Explain { .. });
        let out = self.execute(stmt).await.map_err(|e| to_pg(&e))?;
        if in_transaction && (copy || matches!(out, Output::Tag(_))) {
            session.changed.store(true, Ordering::Relaxed);
        }
        Ok(match out {
            Output::Rows(batches) => {
                let schema = batches
                    .first()
                    .map(|b| b.schema())
                    .unwrap_or_else(|| Arc::new(arrow::datatypes::Schema::empty()));
                let fields = Arc::new(encode::fields(&schema, format));
                let f = fields.clone();
                // Encoded a batch at a time as the client takes rows.
                let rows =
                    stream::iter(batches.into_iter().flat_map(move |b| {
                        match encode::rows(&b, &f) {
                            Ok(rows) => rows.into_iter().map(Ok).collect::<Vec<_>>(),
                            Err(e) => vec![Err(e)],
                        }
                    }));
                Response::Query(QueryResponse::new(fields, rows))
            }
            Output::Tag(t) => Response::Execution(Tag::new(&t)),
            Output::Text(t) if explain => text_rows(
                "QUERY PLAN",
                t.lines().map(str::to_string).collect(),
                format,
            ),
            Output::Text(t) => {
                // COPY ... TO: "N rows (B bytes) written to target".
                let n = t
                    .split_whitespace()
                    .next()
                    .and_then(|w| w.parse::<usize>().ok())
                    .unwrap_or(0);
                Response::Execution(Tag::new("COPY").with_rows(n))
            }
        })
    }

    /// The row shape of `stmt` without running it (a query is planned; statements that
    /// return no rows have none).
    async fn shape(
        &self,
        stmt: Statement,
        format: &Format,
    ) -> PgWireResult<Option<Vec<FieldInfo>>> {
        let text = |name: &str| {
            Some(vec![FieldInfo::new(
                name.into(),
                None,
                None,
                Type::TEXT,
                format.format_for(0),
            )])
        };
        if let Some(c) = control(&stmt) {
            return Ok(match c {
                Control::Show(name) => text(&name),
                _ => None,
            });
        }
        match stmt {
            Statement::Query(q) => {
                let engine = self.engine.clone();
                let schema =
                    tokio::task::spawn_blocking(move || engine.plan_query(&q).map(|p| p.schema()))
                        .await
                        .map_err(|e| user_error("XX000", format!("planning thread failed: {e}")))?
                        .map_err(|e| to_pg(&e))?;
                Ok(Some(encode::fields(&schema, format)))
            }
            Statement::Explain { .. } => Ok(text("QUERY PLAN")),
            // Cheap and without side effects: run them for their shape.
            s @ (Statement::ShowTables { .. } | Statement::ExplainTable { .. }) => {
                match self.execute(s).await.map_err(|e| to_pg(&e))? {
                    Output::Rows(b) => Ok(b.first().map(|b| encode::fields(&b.schema(), format))),
                    _ => Ok(None),
                }
            }
            _ => Ok(None),
        }
    }
}

/// ROLLBACK: ends the transaction, unless it changed anything: those changes are
/// stored (each statement commits on its own), so the ROLLBACK fails saying so, and the
/// transaction is left failed; a second ROLLBACK ends it.
fn rollback(session: &Session) -> PgWireResult<Response> {
    if session.changed.swap(false, Ordering::Relaxed) {
        return Err(user_error(
            "0A000",
            "ROLLBACK cannot undo this transaction's changes: Strata commits each statement \
             when it completes (autocommit), so they are stored. ROLLBACK again to end the \
             transaction; use autocommit mode to avoid this",
        ));
    }
    Ok(Response::TransactionEnd(Tag::new("ROLLBACK")))
}

/// Parses `text` into statements, with SQL errors as PostgreSQL errors.
fn parse(text: &str) -> PgWireResult<Vec<Statement>> {
    Engine::parse(text).map_err(|e| to_pg(&e))
}

/// `text` as exactly one statement (what a prepared statement must be).
fn parse_one(text: &str) -> PgWireResult<Option<Statement>> {
    let mut stmts = parse(text)?;
    match stmts.len() {
        0 => Ok(None),
        1 => Ok(stmts.pop()),
        _ => Err(user_error(
            "42601",
            "cannot insert multiple commands into a prepared statement",
        )),
    }
}

fn error_info(e: PgWireError) -> Box<ErrorInfo> {
    match e {
        PgWireError::UserError(info) => info,
        other => Box::new(ErrorInfo::new(
            "ERROR".into(),
            "XX000".into(),
            other.to_string(),
        )),
    }
}

#[async_trait]
impl SimpleQueryHandler for Backend {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let stmts = parse(query)?;
        let mut out = Vec::with_capacity(stmts.len());
        // In order; the first error ends the string, as in PostgreSQL.
        for stmt in stmts {
            match self.one(client, stmt, &Format::UnifiedText).await {
                Ok(r) => out.push(r),
                Err(e) => {
                    out.push(Response::Error(error_info(e)));
                    break;
                }
            }
        }
        Ok(out)
    }
}

/// A prepared statement: its text with the placeholders located.
pub struct Parser;

#[async_trait]
impl QueryParser for Parser {
    type Statement = Arc<Template>;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let t = Template::new(sql)?;
        // Syntax errors belong to Parse, as in PostgreSQL.
        if parse_one(&t.with_nulls())?.is_none() {
            return Ok(None);
        }
        Ok(Some(Arc::new(t)))
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        Ok(vec![Type::TEXT; stmt.params])
    }

    fn get_result_schema(
        &self,
        _stmt: &Self::Statement,
        _column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(Vec::new())
    }
}

/// The statement text of `portal` with its parameters bound.
fn bound(portal: &Portal<Arc<Template>>) -> PgWireResult<String> {
    let t = &portal.statement.statement;
    if portal.parameters.len() < t.params {
        return Err(user_error(
            "08P01",
            format!(
                "bind message supplies {} parameters, but the statement needs {}",
                portal.parameters.len(),
                t.params
            ),
        ));
    }
    let types = &portal.statement.parameter_types;
    t.fill(|n| {
        literal(
            n,
            types.get(n - 1).and_then(|t| t.as_ref()),
            &portal.parameter_format,
            portal.parameters[n - 1].as_ref(),
        )
    })
}

#[async_trait]
impl ExtendedQueryHandler for Backend {
    type Statement = Arc<Template>;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let Some(stmt) = parse_one(&bound(portal)?)? else {
            return Ok(Response::EmptyQuery);
        };
        self.one(client, stmt, &portal.result_column_format).await
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        stmt: &StoredStatement<Self::Statement>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let t = &stmt.statement;
        // Types the client gave, TEXT for the rest (their literals are cast where used).
        let types = (0..t.params)
            .map(|i| {
                stmt.parameter_types
                    .get(i)
                    .cloned()
                    .flatten()
                    .filter(|t| *t != Type::UNKNOWN)
                    .unwrap_or(Type::TEXT)
            })
            .collect();
        // The row shape with every parameter NULL; the formats are not known until Bind.
        let fields = match parse_one(&t.with_nulls())? {
            Some(s) => self
                .shape(s, &Format::UnifiedText)
                .await?
                .unwrap_or_default(),
            None => Vec::new(),
        };
        Ok(DescribeStatementResponse::new(types, fields))
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        portal: &Portal<Self::Statement>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let Some(stmt) = parse_one(&bound(portal)?)? else {
            return Ok(DescribePortalResponse::no_data());
        };
        Ok(
            match self.shape(stmt, &portal.result_column_format).await? {
                Some(fields) => DescribePortalResponse::new(fields),
                None => DescribePortalResponse::no_data(),
            },
        )
    }
}
