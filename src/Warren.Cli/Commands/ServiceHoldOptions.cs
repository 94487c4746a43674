using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Warren.Cli.Commands;

/// <summary>
/// What <c>warren drain</c> and <c>warren maintenance</c> share: the service (and its token when two publish the same
/// name), what the 503 page says and the Retry-After it sends, and how the service's state is printed.
/// </summary>
internal sealed class ServiceHoldOptions
{
    public Argument<string> Service { get; } = new("service") { Description = "The service's name (the NAME column of `warren status`)" };

    public Option<string?> Owner { get; } = new("--owner") { Description = "The token that publishes it, when services of two tokens share the name" };

    public Option<string?> Message { get; } = new("--message") { Description = "A line for the 503 page that clients see (at most 500 characters)" };

    public Option<int?> RetryAfter { get; } = new("--retry-after") { Description = "Seconds clients are told to wait (Retry-After; 1 to 86400, default 300)" };

    /// <summary>Drain only: seconds after which open WebSockets and TCP connections are closed (default: the edge's drain_timeout).</summary>
    public Option<int?> DrainTimeout { get; } = new("--drain-timeout") { Description = "Drain only: seconds after which open WebSockets and TCP connections are closed (0 to 86400; default: the edge's drain_timeout)" };

    public ServiceHoldOptions AddTo(Command command)
    {
        command.Arguments.Add(Service);
        command.Options.Add(Owner);
        command.Options.Add(Message);
        command.Options.Add(RetryAfter);
        return this;
    }

    /// <summary>/api/services/NAME/<paramref name="action"/>, with ?owner= when given.</summary>
    public string Path(ParseResult parse, string action) =>
        $"/api/services/{Uri.EscapeDataString(parse.GetValue(Service)!)}/{action}"
        + (parse.GetValue(Owner) is { } owner ? "?owner=" + Uri.EscapeDataString(owner) : "");

    /// <summary>The request's body: only what was given (the edge fills in the defaults).</summary>
    public string Body(ParseResult parse)
    {
        var body = new JsonObject();
        if (parse.GetValue(Message) is { } message)
        {
            body["message"] = message;
        }
        if (parse.GetValue(RetryAfter) is { } seconds)
        {
            body["retry_after"] = seconds;
        }
        if (parse.GetValue(DrainTimeout) is { } closeAfter)
        {
            body["drain_timeout"] = closeAfter;
        }
        return body.ToJsonString();
    }

    /// <summary>One line: <c>service app (token ci): draining, 3 open</c>.</summary>
    public static string Describe(JsonElement service) => string.Create(CultureInfo.InvariantCulture,
        $"service {StatusCommand.Str(service, "name")} (token {StatusCommand.Str(service, "owner")}): {StatusCommand.Str(service, "state")}, {StatusCommand.Str(service, "in_flight")} open");
}
