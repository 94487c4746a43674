namespace Warren.Configuration;

/// <summary>Which services a policy may be put on: its keys decide (docs/policy.md, "HTTP and TCP").</summary>
public enum PolicyKind
{
    /// <summary>Only keys that work for both (ip): fits HTTP and TCP services.</summary>
    Any,

    Http,

    Tcp,
}
