using System.Reflection;
using Spectre.Console.Cli;

namespace DreamBooth.Cli;

/// <summary>
/// Spectre.Console.Cli gives a string option written last without its value (<c>generate ... --output</c>) the
/// internal placeholder "__default_command" instead of failing, so the command would write a folder of that name;
/// this interceptor turns it into a one-line "missing value" error naming the option.
/// </summary>
internal sealed class MissingValueCheck : ICommandInterceptor
{
    private const string Placeholder = "__default_command";

    public void Intercept(CommandContext context, CommandSettings settings)
    {
        foreach (var property in settings.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.PropertyType != typeof(string) || property.GetCustomAttribute<CommandOptionAttribute>() is not { } option) continue;
            if (property.GetValue(settings) is not Placeholder) continue;
            string name = option.LongNames.Count > 0 ? "--" + option.LongNames[0] : "-" + option.ShortNames[0];
            throw new DreamBoothException($"{name}: missing value");
        }
    }

    public void InterceptResult(CommandContext context, CommandSettings settings, ref int result)
    {
    }
}
