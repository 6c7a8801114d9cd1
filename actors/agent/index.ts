export { agentActorDefinition, replayAgentSession, type AgentActorDeps } from './definition.ts';
export type { AgentEffect, AgentModelCall } from './effects.ts';
export { estimateTokens } from './context.ts';
export {
  AgentLogFencingError,
  type AgentInferenceQueue,
  type AgentLog,
  type AgentLogEntry,
  type AgentProjection,
  type AgentProjectionRecord,
} from './ports.ts';
export { emptyAgentState, evolve, needsHost, sessionStatus, type AgentState } from './state.ts';
export { TOOL_ERROR_CODES, TOOL_NAME_PATTERN, type JsonSchemaObject, type ToolCallContext, type ToolDescriptor, type ToolErrorCode, type ToolResult, type ToolRunner } from './tool.ts';
export { agentSessionView, projectionRecord, transcriptEntry } from './view.ts';
