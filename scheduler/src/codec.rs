//! Plan codecs: Ballista's own, plus Pulse's staged writes (`pulse_lake::stage`), so a job's
//! output step travels client -> scheduler (logical) -> executors (physical) and is written
//! there. Every process installs them: the client in its session config, the scheduler and
//! executors in their process configs.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use pulse_lake::Lake;
use pulse_lake::stage;

/// Ballista's logical codec and Pulse's staged write.
#[derive(Debug, Default)]
pub struct Logical(BallistaLogicalExtensionCodec);

impl LogicalExtensionCodec for Logical {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        match stage::decode_logical(buf, inputs)? {
            Some(e) => Ok(e),
            None => self.0.try_decode(buf, inputs, ctx),
        }
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        match stage::encode_logical(node.node.as_any())? {
            Some(bytes) => {
                buf.extend(bytes);
                Ok(())
            }
            None => self.0.try_encode(node, buf),
        }
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        self.0
            .try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        self.0.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.0.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.0.try_encode_file_format(buf, node)
    }
}

/// Ballista's physical codec and Pulse's staged write, which writes to `lake`.
#[derive(Debug)]
pub struct Physical {
    inner: BallistaPhysicalExtensionCodec,
    lake: Lake,
}

impl Physical {
    /// The codec of a process over `lake`.
    pub fn new(lake: Lake) -> Self {
        Physical {
            inner: BallistaPhysicalExtensionCodec::default(),
            lake,
        }
    }
}

impl PhysicalExtensionCodec for Physical {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match stage::decode_exec(buf, inputs, &self.lake)? {
            Some(e) => Ok(e),
            None => self.inner.try_decode(buf, inputs, ctx, proto_converter),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        match stage::encode_exec(node.as_ref())? {
            Some(bytes) => {
                buf.extend(bytes);
                Ok(())
            }
            None => self.inner.try_encode(node, buf, proto_converter),
        }
    }
}
