using System.Text.Json.Serialization;

namespace Warren.Edge.Acme;

/// <summary>An RFC 7807 problem document as ACME uses it (RFC 8555 §6.7), with its subproblems (§6.7.1).</summary>
internal sealed record AcmeProblem
{
    [JsonPropertyName("type")]
    public string? Type { get; init; }

    [JsonPropertyName("detail")]
    public string? Detail { get; init; }

    [JsonPropertyName("status")]
    public int? Status { get; init; }

    [JsonPropertyName("subproblems")]
    public IReadOnlyList<AcmeProblem>? Subproblems { get; init; }

    [JsonPropertyName("identifier")]
    public AcmeIdentifier? Identifier { get; init; }

    public override string ToString()
    {
        var text = $"{Type ?? "error"}: {Detail ?? "(no detail)"}";
        if (Subproblems is { Count: > 0 } subproblems)
        {
            text += " (" + string.Join("; ", subproblems.Select(p => $"{p.Identifier?.Value}: {p.Detail}")) + ")";
        }
        return text;
    }
}
