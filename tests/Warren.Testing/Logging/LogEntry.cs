using Microsoft.Extensions.Logging;

namespace Warren.Testing.Logging;

/// <summary>One logger call as <see cref="TestLog"/> kept it: who logged, which event, and its structured fields.</summary>
internal sealed record LogEntry(string Category, string? EventName, LogLevel Level, IReadOnlyDictionary<string, object?> Fields, string Message);
