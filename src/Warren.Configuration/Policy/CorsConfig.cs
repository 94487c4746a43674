namespace Warren.Configuration;

/// <summary>
/// YAML key <c>cors</c>: the edge answers preflight requests (OPTIONS with Access-Control-Request-Method) itself and
/// adds Access-Control-Allow-* to responses for allowed origins. <c>"*"</c> in <see cref="Origins"/> allows any origin
/// (not with <see cref="Credentials"/>).
/// </summary>
public sealed record CorsConfig
{
    public IReadOnlyList<string> Origins { get; init; } = [];

    public IReadOnlyList<string> Methods { get; init; } = ["GET", "HEAD", "POST"];

    public IReadOnlyList<string> Headers { get; init; } = [];

    /// <summary>YAML key <c>expose_headers</c>.</summary>
    public IReadOnlyList<string> ExposeHeaders { get; init; } = [];

    public bool Credentials { get; init; }

    /// <summary>YAML key <c>max_age</c>: how long browsers may cache a preflight answer. Default 10 min.</summary>
    public TimeSpan MaxAge { get; init; } = TimeSpan.FromMinutes(10);
}
