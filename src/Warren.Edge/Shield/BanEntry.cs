using System.Net;

namespace Warren.Edge.Shield;

/// <summary>One banned client address: until when, why, and since when (docs/policy.md, "Abuse shield").</summary>
internal sealed record BanEntry(IPAddress Address, DateTimeOffset Until, string Reason, DateTimeOffset BannedAt);
