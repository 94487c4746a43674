namespace Warren.Edge.Tokens;

/// <summary>
/// Where database tokens live: <see cref="TokenStore"/> (SQLite, one edge alone) or
/// <see cref="Cluster.ClusterTokenStore"/> (Redis, shared by a cluster's edges; docs/cluster.md). <see cref="List"/> and
/// <see cref="HasChanged"/> answer from what the store holds locally, so the refresh never waits on the network.
/// </summary>
public interface ITokenStore : IDisposable
{
    /// <summary>Where the tokens are kept, for messages ("{data}/warren.db", "Redis hash warren:tokens").</summary>
    string Location { get; }

    /// <summary>Creates a token and returns its secret, shown once; throws <see cref="InvalidOperationException"/> when the name is taken or the store cannot be reached.</summary>
    string Create(string name, IReadOnlyList<string> allowHosts, IReadOnlyList<int> allowPorts, int? maxSessions, Configuration.QuotaConfig? quota = null, PrivateGrant? privateServices = null);

    /// <summary>Marks a token revoked; false when no active token has that name.</summary>
    bool Revoke(string name);

    /// <summary>True when the tokens changed since the last call.</summary>
    bool HasChanged();

    /// <summary>Every token, revoked ones too.</summary>
    IReadOnlyList<StoredToken> List();

    /// <summary>Raised when the store learns of a change by itself (another edge's create or revoke): refresh now, not at the next poll.</summary>
    event Action? Updated;
}
