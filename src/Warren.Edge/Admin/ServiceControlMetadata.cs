using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Warren.Edge.Admin;

/// <summary>What the OpenAPI document says of every drain and maintenance endpoint (Admin/AdminOpenApi.cs).</summary>
internal static class ServiceControlMetadata
{
    public static RouteHandlerBuilder Describe(this RouteHandlerBuilder endpoint, int success, bool withBody)
    {
        endpoint.WithTags("services")
            .WithDescription("{name} is the service's name; add ?owner=TOKEN when services of two tokens share it (else 409).")
            .Produces(success, contentType: "application/json")
            .Produces<AdminError>(StatusCodes.Status404NotFound)
            .Produces<AdminError>(StatusCodes.Status409Conflict);
        return withBody
            ? endpoint.Accepts<ServiceControlApi.HoldRequest>(isOptional: true, "application/json").Produces<AdminError>(StatusCodes.Status400BadRequest)
            : endpoint;
    }
}
