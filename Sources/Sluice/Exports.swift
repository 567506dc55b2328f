// Users of the server need the codec values (SSEEvent) and the head types (HTTPResponse) in every
// handler; re-export them so `import Sluice` is enough.
@_exported import HTTPTypes
@_exported import SluiceCore
