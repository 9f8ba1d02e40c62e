using System.ComponentModel;
using System.Reflection;
using DreamBooth.Cli.Commands;
using DreamBooth.TinyWorld;
using FluentAssertions;
using Spectre.Console.Cli;
using Xunit;

namespace DreamBooth.Tests.Cli;

/// <summary>Every command's --help renders: descriptions are Spectre markup, where a bare "[V]" is a markup error.</summary>
public class HelpTests
{
    [Theory]
    [InlineData("--help")]
    [InlineData("demo --help")]
    [InlineData("info --help")]
    [InlineData("generate --help")]
    [InlineData("tiny-world render --help")]
    [InlineData("tiny-world samples --help")]
    [InlineData("tiny-world pretrain --help")]
    [InlineData("tiny-world heldout --help")]
    [InlineData("probe train --help")]
    [InlineData("train --help")]
    [InlineData("class-images --help")]
    [InlineData("identifiers --help")]
    [InlineData("bench --help")]
    [InlineData("evaluate --help")]
    public void Help_renders_for_every_command(string args)
    {
        var (code, error) = CliRunner.Run(args.Split(' '));
        error.Should().NotContain("internal error");
        code.Should().Be(0, error);
    }

    [Fact]
    public void Demo_help_names_the_class_noun_default_the_demo_uses()
    {
        var description = typeof(DemoCommand.Settings).GetProperty(nameof(DemoCommand.Settings.ClassNoun))!
            .GetCustomAttribute<DescriptionAttribute>()!.Description;
        description.Should().Contain($"Default: {DemoSubject.ClassNoun} ");
        new DreamBooth.Demo.DemoOptions().ClassNoun.Should().Be(DemoSubject.ClassNoun);
    }

    [Fact]
    public void Every_model_option_takes_the_short_flag_m()
    {
        var modelOptions = typeof(DemoCommand).Assembly.GetTypes()
            .Where(t => typeof(CommandSettings).IsAssignableFrom(t))
            .SelectMany(t => t.GetProperties().Select(p => (Settings: t, Option: p.GetCustomAttribute<CommandOptionAttribute>())))
            .Where(x => x.Option is not null && x.Option.LongNames.Contains("model"))
            .ToList();
        modelOptions.Select(x => x.Settings.DeclaringType?.Name).Should().Contain(["DemoCommand", "GenerateCommand", "TrainCommand", "InfoCommand"]);
        foreach (var (settings, option) in modelOptions)
            option!.ShortNames.Should().Equal(["m"], $"{settings.DeclaringType?.Name ?? settings.Name}'s --model");
    }

    [Fact]
    public void Warnings_into_a_file_go_to_stderr_on_one_line()
    {
        var message = "a long warning " + string.Concat(Enumerable.Repeat("that names a file and what is wrong with it, ", 4)) + "end";
        var (_, error) = CliRunner.Capture(() =>
        {
            DreamBooth.Cli.ProgressDisplay.Warn(message);
            return 0;
        });
        error.Should().Be("warning: " + message + Environment.NewLine);
    }
}
