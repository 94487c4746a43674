using System.Text.Json.Serialization;

namespace Warren.Edge.Admin;

/// <summary>The body of every admin API error (with a 4xx status): one sentence saying what was wrong.</summary>
internal sealed record AdminError([property: JsonPropertyName("error")] string Error)
{
    public static Microsoft.AspNetCore.Http.IResult Result(int status, string message) => Microsoft.AspNetCore.Http.Results.Json(new AdminError(message), AdminJson.Default.AdminError, statusCode: status);
}
