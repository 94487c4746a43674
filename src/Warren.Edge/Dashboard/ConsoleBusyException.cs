namespace Warren.Edge.Dashboard;

/// <summary>The console's database queue is full (<see cref="ConsoleDatabase.MaxQueued"/>): the page answers 503 with Retry-After.</summary>
internal sealed class ConsoleBusyException() : Exception("The console's database queue is full; try again in a moment.");
